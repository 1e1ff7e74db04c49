//! Argument structs of `rkt image <verb>`, apart from the command code. Flags follow rkt 1.30.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub verb: ImageVerb,
}

#[derive(Debug, Subcommand)]
pub enum ImageVerb {
    /// List images in the local store
    List(ListArgs),
    /// Remove one or more images from the local store
    Rm(RmArgs),
    /// Remove unused rendered trees, and images unused for longer than the grace period
    Gc(GcArgs),
    /// Export a stored image to an uncompressed ACI file
    Export(ExportArgs),
    /// Extract a stored image (without its dependencies) to a directory
    Extract(OutputDirArgs),
    /// Render a stored image over its dependencies into a directory
    Render(OutputDirArgs),
    /// Print the manifest of a stored image
    CatManifest(CatManifestArgs),
    /// Render a stored image if needed and check its tree against what was rendered
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    JsonPretty,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Comma-separated columns: id, name, size, importtime, lastused, latest
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "id,name,size,importtime,lastused"
    )]
    pub fields: Vec<stage0::images::Field>,
    /// Field to sort by
    #[arg(long, default_value = "importtime")]
    pub sort: stage0::images::Field,
    /// Sort order
    #[arg(long, value_enum, default_value = "asc")]
    pub order: Order,
    /// Full image IDs, exact sizes and full times
    #[arg(long)]
    pub full: bool,
    /// Omit the table header
    #[arg(long)]
    pub no_legend: bool,
    /// Print JSON instead of a table
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Image IDs (sha512-… prefixes) or names
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Remove images unused for longer than this (Go duration: 24h, 30m, 1h30m, 0s)
    #[arg(long, default_value = "24h")]
    pub grace_period: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Image ID prefix or name
    pub image: String,
    /// Output file
    pub output: PathBuf,
    /// Replace the output file if it exists
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct OutputDirArgs {
    /// Image ID prefix or name
    pub image: String,
    /// Output directory (must not exist or be empty, unless --overwrite). Not named `dir`:
    /// that id belongs to the global `--dir`, and clap would merge the two.
    #[arg(value_name = "DIR")]
    pub output_dir: PathBuf,
    /// Write only the rootfs content, without the manifest
    #[arg(long)]
    pub rootfs_only: bool,
    /// Remove the output directory first if it exists
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct CatManifestArgs {
    /// Image ID prefix or name
    pub image: String,
    /// Indent the JSON output
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pretty_print: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Image IDs (sha512-… prefixes) or names
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}
