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
    /// Run image(s) in a new pod
    Run(RunCmdArgs),
    /// Prepare a pod to run later with run-prepared; prints its UUID
    Prepare(RunCmdArgs),
    /// Run a prepared pod
    RunPrepared(RunPreparedArgs),
}

/// `run`/`prepare`: images, per-app and pod flags in rkt's free order, parsed by
/// `stage0::run::args` (`rkt run --help` lists them).
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunCmdArgs {
    /// IMAGE [app flags] [-- app args ---] IMAGE..., with pod flags anywhere
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunPreparedArgs {
    /// The prepared pod's UUID (or an unambiguous prefix)
    #[arg(value_name = "UUID")]
    pub uuid: String,
    /// Networks: host, none, default or named networks (`--net` alone means default)
    #[arg(long, require_equals = true, num_args = 0..=1, default_missing_value = "default", value_name = "NET")]
    pub net: Vec<String>,
    /// Name servers for the pod's resolv.conf (or host, none)
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// DNS search domains
    #[arg(long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// DNS options
    #[arg(long, value_name = "OPT")]
    pub dns_opt: Vec<String>,
    /// DNS domain
    #[arg(long, value_name = "DOMAIN")]
    pub dns_domain: Option<String>,
    /// Entries for the pod's /etc/hosts (IP=HOST, or host)
    #[arg(long, value_name = "ENTRY")]
    pub hosts_entry: Vec<String>,
    /// Run the single app interactively (stdin and the terminal)
    #[arg(long)]
    pub interactive: bool,
    /// Register the pod with the metadata service (not supported yet)
    #[arg(long)]
    pub mds_register: bool,
    /// The pod's hostname (default rkt-<uuid>)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// IPC namespace: auto, private or parent
    #[arg(long, value_name = "MODE", value_parser = ["auto", "private", "parent"])]
    pub ipc: Option<String>,
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
