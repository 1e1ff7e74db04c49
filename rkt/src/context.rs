//! What every command needs from the global flags: the data dir, config, insecure options, and
//! the store and trust store opened from them.

use std::path::PathBuf;

use anyhow::Context as _;
use stage0::config::{Config, ConfigDirs};
use stage0::insecure::InsecureOptions;
use stage0::store::Store;
use stage0::trust::Keystore;

use crate::cli::GlobalArgs;

/// rkt's default data directory.
const DEFAULT_DATA_DIR: &str = "/var/lib/rkt";

pub struct Ctx {
    pub data_dir: PathBuf,
    pub dirs: ConfigDirs,
    pub config: Config,
    pub insecure: InsecureOptions,
    /// `--trust-keys-from-https`.
    pub trust_keys_from_https: bool,
    /// `--max-image-size`, in bytes.
    pub max_image_size: u64,
}

impl Ctx {
    pub fn new(global: &GlobalArgs) -> anyhow::Result<Ctx> {
        // Absolute paths: stage1 runs in the pod's dir and is handed these (a relative
        // `--dir` made the stage1 entrypoint path relative to the wrong directory).
        let dirs = ConfigDirs {
            system: absolute(&global.system_config)?,
            local: absolute(&global.local_config)?,
            user: global.user_config.as_deref().map(absolute).transpose()?,
        };
        let config = Config::load(&dirs)?;
        let insecure: InsecureOptions = global.insecure_options.parse()?;
        // `--dir` beats `paths.d`, which beats the built-in default, as in rkt.
        let data_dir = global
            .dir
            .clone()
            .or_else(|| config.paths.data.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let data_dir = absolute(&data_dir)?;
        let max_image_size = match &global.max_image_size {
            Some(v) => stage0::fetch::parse_size(v).context("--max-image-size")?,
            None => stage0::fetch::DEFAULT_MAX_UNCOMPRESSED_SIZE,
        };
        tracing::debug!(data_dir = %data_dir.display(), insecure = %insecure, "context");
        Ok(Ctx {
            data_dir,
            dirs,
            config,
            insecure,
            trust_keys_from_https: global.trust_keys_from_https,
            max_image_size,
        })
    }

    /// Open the image store (creating it on first use and repairing crash leftovers).
    pub fn store(&self) -> anyhow::Result<Store> {
        Store::open(&self.data_dir)
            .with_context(|| format!("opening the image store in {}", self.data_dir.display()))
    }

    /// The trust store in the system and local config dirs.
    pub fn keystore(&self) -> Keystore {
        Keystore::new(&self.dirs.system, &self.dirs.local)
    }
}

/// `path` made absolute against the working directory, without resolving symlinks.
fn absolute(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("making {} absolute", path.display()))
}
