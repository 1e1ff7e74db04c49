//! Argument structs, apart from the command code. Flags and defaults follow rkt 1.30.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "rkt",
    version,
    about = "rkt-rs, the App Container runtime",
    infer_subcommands = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts, as rkt's global flags.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print out more debug information to stderr
    #[arg(long, global = true)]
    pub debug: bool,
    /// rkt data directory
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// System configuration directory
    #[arg(
        long,
        global = true,
        default_value = "/usr/lib/rkt",
        value_name = "DIR"
    )]
    pub system_config: PathBuf,
    /// Local configuration directory
    #[arg(long, global = true, default_value = "/etc/rkt", value_name = "DIR")]
    pub local_config: PathBuf,
    /// User configuration directory
    #[arg(long, global = true, value_name = "DIR")]
    pub user_config: Option<PathBuf>,
    /// Comma-separated list of security features to disable
    #[arg(long, global = true, default_value = "none", value_name = "OPTS")]
    pub insecure_options: String,
    /// Automatically trust gpg keys fetched from https
    #[arg(long, global = true)]
    pub trust_keys_from_https: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version and exit
    Version,
    /// Print the configuration in effect (merged from the config directories)
    Config(ConfigArgs),
    /// Operate on images in the local store
    Image(crate::commands::image::args::ImageArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Indent the JSON output
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pretty_print: bool,
}
