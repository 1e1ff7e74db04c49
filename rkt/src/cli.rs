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
    /// Largest image (uncompressed) that fetch, run and prepare accept, e.g. 512Mi, 20Gi;
    /// K/M/G/T are powers of 1000, Ki/Mi/Gi/Ti of 1024 [default: 8Gi]
    #[arg(long, global = true, value_name = "SIZE")]
    pub max_image_size: Option<String>,
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
    /// List pods
    List(ListArgs),
    /// Check the status of a pod
    Status(StatusArgs),
    /// Enter the namespaces of an app within a running pod
    Enter(EnterArgs),
    /// Stop running pods
    Stop(StopArgs),
    /// Garbage collect pods no longer in use
    Gc(GcArgs),
    /// Remove exited or prepared pods and everything they hold
    Rm(UuidsArgs),
    /// Print the manifest of a pod
    CatManifest(CatManifestArgs),
    /// Export an app of an exited pod as an ACI
    Export(ExportArgs),
    /// Run image(s) in a new pod
    Run(RunCmdArgs),
    /// Prepare a pod to run later with run-prepared; prints its UUID
    Prepare(RunCmdArgs),
    /// Run a prepared pod
    RunPrepared(RunPreparedArgs),
    /// Run the appc metadata service (pods register with `rkt run --mds-register`)
    MetadataService(MetadataServiceArgs),
}

#[derive(Debug, Args)]
pub struct MetadataServiceArgs {
    /// The TCP port pods reach the service on
    #[arg(long, default_value_t = stage0::metadata::DEFAULT_PORT, value_name = "PORT")]
    pub listen_port: u16,
    /// The registration socket (root only); also read from RKT_METADATA_SOCK
    #[arg(long, env = "RKT_METADATA_SOCK", default_value = stage0::metadata::DEFAULT_SOCKET, value_name = "PATH")]
    pub socket: std::path::PathBuf,
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
    /// Register the pod with the metadata service (`rkt metadata-service` must be running)
    #[arg(long)]
    pub mds_register: bool,
    /// The pod's hostname (default rkt-<uuid>)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// IPC namespace: auto, private or parent
    #[arg(long, value_name = "MODE", value_parser = ["auto", "private", "parent"])]
    pub ipc: Option<String>,
    /// Run the pod in its own user namespace (a fresh 65536-id range)
    #[arg(long)]
    pub private_users: bool,
    /// The pod's limit on tasks (pids.max): a positive number, or max [default: 4096]
    #[arg(long, value_name = "N|max")]
    pub pids_limit: Option<String>,
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

/// `--format` of `list` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PodFormat {
    Json,
    JsonPretty,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Use the long output format (full UUIDs, image IDs, full times)
    #[arg(long)]
    pub full: bool,
    /// Suppress the legend
    #[arg(long)]
    pub no_legend: bool,
    /// Print JSON instead of a table
    #[arg(long, value_enum)]
    pub format: Option<PodFormat>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The pod's UUID (or an unambiguous prefix)
    #[arg(value_name = "UUID", required_unless_present = "uuid_file")]
    pub uuid: Option<String>,
    /// Read the pod UUID from this file instead
    #[arg(long, value_name = "FILE", conflicts_with = "uuid")]
    pub uuid_file: Option<PathBuf>,
    /// Wait for the pod to exit: true, false or a duration (10s, 1m)
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false")]
    pub wait: String,
    /// Wait until the pod is ready: true, false or a duration (10s, 1m)
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false")]
    pub wait_ready: String,
    /// Print JSON instead of key=value lines
    #[arg(long, value_enum)]
    pub format: Option<PodFormat>,
}

#[derive(Debug, Args)]
pub struct EnterArgs {
    /// The app to enter (required when the pod has several)
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// The pod's UUID (or an unambiguous prefix)
    #[arg(value_name = "UUID")]
    pub uuid: String,
    /// The command to run in the app (default: /bin/bash)
    #[arg(
        value_name = "CMD",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub cmd: Vec<String>,
}

/// Pods named by UUIDs (or prefixes) or by one `--uuid-file`.
#[derive(Debug, Args)]
pub struct UuidsArgs {
    /// The pods' UUIDs (or unambiguous prefixes)
    #[arg(value_name = "UUID", required_unless_present = "uuid_file")]
    pub uuids: Vec<String>,
    /// Read the pod UUID from this file instead
    #[arg(long, value_name = "FILE", conflicts_with = "uuids")]
    pub uuid_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub pods: UuidsArgs,
    /// Kill the pod's processes instead of asking them to stop
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// How long exited pods stay in the garbage before deletion
    #[arg(long, default_value = "30m", value_name = "DURATION")]
    pub grace_period: String,
    /// How long prepared pods may wait for run-prepared
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub expire_prepared: String,
    /// Only move exited and aborted pods to the garbage; delete nothing
    #[arg(long)]
    pub mark_only: bool,
}

#[derive(Debug, Args)]
pub struct CatManifestArgs {
    /// The pod's UUID (or an unambiguous prefix)
    #[arg(value_name = "UUID", required_unless_present = "uuid_file")]
    pub uuid: Option<String>,
    /// Read the pod UUID from this file instead
    #[arg(long, value_name = "FILE", conflicts_with = "uuid")]
    pub uuid_file: Option<PathBuf>,
    /// Indent the JSON output
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pretty_print: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The app to export (required when the pod has several)
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Replace the output file if it exists
    #[arg(long)]
    pub overwrite: bool,
    /// The pod's UUID (or an unambiguous prefix)
    #[arg(value_name = "UUID")]
    pub uuid: String,
    /// The ACI file to write (must end in .aci)
    #[arg(value_name = "OUTPUT_ACI_FILE")]
    pub output: PathBuf,
}
