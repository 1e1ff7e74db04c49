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
    /// Fetch image(s) and store them in the local store
    Fetch(FetchArgs),
    /// Trust a key for image verification
    Trust(TrustArgs),
    /// Operate on images in the local store
    Image(crate::commands::image::args::ImageArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Indent the JSON output
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pretty_print: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Images: files, sha512- IDs or names (`name[:version][,label=value]`)
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Local signature file to use in validating the image
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// Print the full image hash after fetching
    #[arg(long)]
    pub full: bool,
    /// When to fetch an image: new, update or never
    #[arg(long, default_value = "update", value_name = "POLICY")]
    pub pull_policy: String,
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Armored public key files to trust
    #[arg(value_name = "KEY")]
    pub keys: Vec<String>,
    /// Image name prefix the keys are trusted for
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Trust the keys for all images
    #[arg(long)]
    pub root: bool,
    /// Do not ask to confirm the key fingerprint
    #[arg(long)]
    pub skip_fingerprint_review: bool,
    /// Allow fetching keys over plain HTTP
    #[arg(long)]
    pub insecure_allow_http: bool,
    /// List the trusted keys (rkt-rs extension)
    #[arg(long, conflicts_with_all = ["keys", "remove"])]
    pub list: bool,
    /// Stop trusting the key with this fingerprint for --prefix or --root (rkt-rs extension)
    #[arg(long, value_name = "FINGERPRINT", conflicts_with = "keys")]
    pub remove: Option<String>,
}
