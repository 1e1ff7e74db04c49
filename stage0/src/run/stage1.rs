//! Which stage1 image a pod gets (rkt.md §4 "stage1 selection"): a `--stage1-*` flag, else
//! `stage1.d`'s name/version (store) or location, else the default: the image embedded in
//! `rkt` (imported only when its ID is not in the store yet, so never re-hashed), then
//! `stage1-default.aci` beside the binary, then `<stage1-images>/stage1-default.aci`.
//!
//! Trust: a stage1 from `--stage1-path`/`--stage1-url` is verified like any image file (or
//! `--insecure-options=image`); images found in the store, the embedded one, the files beside
//! the binary or in the stage1 images dir, and a `stage1.d` location file are the installation's
//! own and accepted unsigned, as rkt accepts its build-time stage1 images.

use std::path::{Path, PathBuf};

use aci::discovery::AppReference;

use super::RunError;
use super::args::Stage1Flag;
use crate::config::Stage1Config;
use crate::fetch::Fetcher;
use crate::image_ref::ImageRef;
use crate::insecure::Insecure;
use crate::stage1_abi::check_stage1_manifest;
use crate::store::{ImageInfo, Origin};

/// The file name of the default stage1 image beside the binary or in the images dir.
pub const DEFAULT_STAGE1_FILE: &str = "stage1-default.aci";

/// rkt's build-time stage1 images directory.
pub const DEFAULT_STAGE1_IMAGES_DIR: &str = "/usr/lib/rkt/stage1-images";

/// A stage1 image that is not a file or a store entry.
#[derive(Debug, Clone, Copy)]
pub enum Stage1Source {
    /// The ACI built into the `rkt` binary and its store key (`sha512-` + 64 hex), computed at
    /// build time so that a run never hashes it.
    Embedded {
        bytes: &'static [u8],
        id: &'static str,
    },
}

/// Everything stage1 selection looks at.
#[derive(Debug, Clone)]
pub struct Stage1Request<'a> {
    pub flag: Option<&'a Stage1Flag>,
    pub config: &'a Stage1Config,
    pub embedded: Option<Stage1Source>,
    /// Where `--stage1-from-dir` and the last fallback look (`paths.d` `stage1-images`, else
    /// [`DEFAULT_STAGE1_IMAGES_DIR`]).
    pub images_dir: PathBuf,
    /// The directory of the running `rkt` binary, if known.
    pub exe_dir: Option<PathBuf>,
}

/// Find or import the stage1 image and check it speaks a stage1 ABI this stage0 supports.
pub fn select_stage1(fetcher: &Fetcher, req: &Stage1Request) -> Result<ImageInfo, RunError> {
    let info = find_stage1(fetcher, req)?;
    let manifest = fetcher
        .store
        .manifest(&info.key)
        .map_err(|error| RunError::Store {
            image: info.name.clone(),
            error,
        })?;
    check_stage1_manifest(&manifest)?;
    Ok(info)
}

/// A fetcher that takes the file unsigned: for the installation's own stage1 images.
fn trusted(fetcher: &Fetcher) -> Fetcher {
    let mut f = fetcher.clone();
    f.insecure = f.insecure.with(Insecure::Image);
    f.signature = None;
    f
}

fn find_stage1(fetcher: &Fetcher, req: &Stage1Request) -> Result<ImageInfo, RunError> {
    match req.flag {
        Some(Stage1Flag::Path(p)) => Ok(fetcher.fetch(&file_url(p))?),
        Some(Stage1Flag::Url(u)) => Ok(fetcher.fetch(u)?),
        Some(Stage1Flag::Name(n)) => {
            let mut f = fetcher.clone();
            f.pull_policy = crate::fetch::PullPolicy::New;
            Ok(f.fetch(n)?)
        }
        Some(Stage1Flag::Hash(h)) => fetcher
            .store
            .find_by_id(h)
            .map_err(|error| RunError::Store {
                image: h.clone(),
                error,
            }),
        Some(Stage1Flag::FromDir(name)) => {
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(RunError::Stage1(format!(
                    "--stage1-from-dir={name:?}: give a file name in {}",
                    req.images_dir.display()
                )));
            }
            from_file(fetcher, &req.images_dir.join(name))
        }
        None => from_config_or_default(fetcher, req),
    }
}

fn from_file(fetcher: &Fetcher, path: &Path) -> Result<ImageInfo, RunError> {
    Ok(trusted(fetcher).fetch(&file_url(path))?)
}

/// A path as `file://` so that it is read as a file whatever it looks like.
fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn from_config_or_default(fetcher: &Fetcher, req: &Stage1Request) -> Result<ImageInfo, RunError> {
    let store = &fetcher.store;
    if let Some(name) = &req.config.name {
        let mut reference = name.clone();
        if let Some(v) = &req.config.version {
            reference = format!("{reference}:{v}");
        }
        if let Ok(ImageRef::Name(app)) = ImageRef::parse(&reference) {
            let found = find_name(fetcher, &app, &reference)?;
            if let Some(info) = found {
                return Ok(info);
            }
        }
    }
    if let Some(location) = &req.config.location {
        return match ImageRef::parse(location) {
            Ok(ImageRef::Path(p)) => from_file(fetcher, &p),
            _ => Ok(fetcher.fetch(location)?),
        };
    }
    if let Some(Stage1Source::Embedded { bytes, id }) = req.embedded {
        return embedded(store, bytes, id);
    }
    let mut candidates = Vec::new();
    if let Some(dir) = &req.exe_dir {
        candidates.push(dir.join(DEFAULT_STAGE1_FILE));
    }
    candidates.push(req.images_dir.join(DEFAULT_STAGE1_FILE));
    for c in &candidates {
        if c.is_file() {
            return from_file(fetcher, c);
        }
    }
    Err(RunError::Stage1(format!(
        "no stage1 image: this rkt has none built in and none of {} exists; choose one with \
         --stage1-path, --stage1-name, --stage1-hash, --stage1-url or --stage1-from-dir",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn find_name(
    fetcher: &Fetcher,
    app: &AppReference,
    reference: &str,
) -> Result<Option<ImageInfo>, RunError> {
    crate::fetch::find_name(&fetcher.store, app).map_err(|error| RunError::Store {
        image: reference.to_string(),
        error,
    })
}

/// The embedded image: from the store when its key is there (no hashing), else imported.
fn embedded(
    store: &crate::store::Store,
    bytes: &'static [u8],
    id: &str,
) -> Result<ImageInfo, RunError> {
    let store_err = |error| RunError::Store {
        image: format!("built-in stage1 {id}"),
        error,
    };
    if let Some(info) = store.info(id).map_err(store_err)? {
        return Ok(info);
    }
    let origin = Origin {
        aci_url: Some("builtin:stage1".to_string()),
        ..Origin::default()
    };
    let info = store.import(bytes, origin).map_err(store_err)?;
    if info.key != id {
        tracing::warn!(expected = id, got = %info.key, "the built-in stage1's ID differs from the one recorded at build time");
    }
    Ok(info)
}

#[cfg(test)]
#[path = "stage1_tests.rs"]
mod tests;
