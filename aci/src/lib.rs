//! The App Container (appc 0.8.11) specification in Rust.
//!
//! Pure data and parsing: no process, namespace or mount operation lives here. The only file
//! system work is the safe extraction of image archives into a directory (`extract`, `render`),
//! which resolves every path inside its root through file descriptors.

pub mod archive;
pub mod discovery;
pub mod entry;
pub mod extract;
pub mod isolator;
pub mod manifest;
pub mod quantity;
pub mod render;
pub mod types;

/// The appc spec version this crate implements and writes into manifests.
pub const APPC_VERSION: &str = "0.8.11";
