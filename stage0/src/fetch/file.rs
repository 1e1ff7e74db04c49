//! Fetching an image file from disk: signature first, then staging, scope check, dependency
//! check, commit and (as root) render.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use aci::manifest::ImageManifest;
use rustix::fs::{Mode, OFlags};

use super::{FetchError, Fetcher, MAX_SIGNATURE_SIZE};
use crate::fsutil;
use crate::insecure::Insecure;
use crate::store::{ImageInfo, Origin, StagedImage};
use crate::trust::AnySigner;

/// Read buffer for hashing a signed file.
const VERIFY_BUF: usize = 256 * 1024;

impl Fetcher {
    pub(super) fn fetch_file(&self, path: &Path) -> Result<ImageInfo, FetchError> {
        let mut file = File::open(path).map_err(io_err(path, "open it"))?;
        let meta = file.metadata().map_err(io_err(path, "read its metadata"))?;
        if !meta.is_file() {
            return Err(FetchError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let (staged, signed) = if self.insecure.allows(Insecure::Image) {
            tracing::debug!(file = %path.display(), "--insecure-options=image: signature not checked");
            (self.stage(path, &mut file, meta.len())?, None)
        } else {
            let sig_path = self
                .signature
                .clone()
                .unwrap_or_else(|| with_suffix(path, ".asc"));
            let signature = read_signature(path, &sig_path)?;
            // Verify and parse one private copy, so the file cannot change in between.
            let mut copy = private_copy(self, &mut file, path)?;
            let signer = self
                .keystore
                .verify_any(BufReader::with_capacity(VERIFY_BUF, &mut copy), &signature)
                .map_err(|error| FetchError::Signature {
                    file: path.to_path_buf(),
                    signature: sig_path.clone(),
                    error: Box::new(error),
                })?;
            copy.seek(SeekFrom::Start(0))
                .map_err(io_err(path, "rewind its private copy"))?;
            (
                self.stage(path, &mut copy, meta.len())?,
                Some((signer, sig_path)),
            )
        };
        if let Some((signer, _)) = &signed {
            check_signer_scope(path, signer, staged.manifest())?;
        }
        self.check_dependencies(&path.display().to_string(), staged.manifest())?;
        self.check_room(&path.display().to_string(), &staged)?;
        let origin = Origin {
            aci_url: Some(file_url(path)),
            sig_url: signed.map(|(_, sig)| file_url(&sig)),
            ..Origin::default()
        };
        let info = staged.commit(origin).map_err(|error| FetchError::Store {
            image: path.display().to_string(),
            error,
        })?;
        if self.render {
            self.store
                .render_tree(&info.key)
                .map_err(|error| FetchError::Render {
                    image: path.display().to_string(),
                    error,
                })?;
        }
        Ok(info)
    }

    fn stage(
        &self,
        path: &Path,
        input: impl Read + Send,
        total: u64,
    ) -> Result<StagedImage<'_>, FetchError> {
        let input: Box<dyn Read + Send> = match &self.progress {
            Some(p) => Box::new(super::progress::ProgressReader::new(
                input,
                p.clone(),
                &format!("reading {}", path.display()),
                total,
            )),
            None => Box::new(input),
        };
        let limit = self.max_uncompressed_size;
        self.store
            .stage_limited(input, Some(limit))
            .map_err(|error| FetchError::staging(&path.display().to_string(), limit, error))
    }

    /// Every direct dependency must already be in the store, resolved the way rendering
    /// resolves it (by image ID, else by name and exact labels).
    pub(super) fn check_dependencies(
        &self,
        image: &str,
        manifest: &ImageManifest,
    ) -> Result<(), FetchError> {
        for dep in &manifest.dependencies {
            let found = matches!(self.store.find_dependency(dep), Ok(Some(_)));
            if !found {
                let mut dependency = dep.image_name.to_string();
                if let Some(id) = &dep.image_id {
                    dependency.push_str(&format!(" (image ID {id})"));
                }
                for l in dep.labels.iter() {
                    dependency.push_str(&format!(",{}={}", l.name, l.value));
                }
                return Err(FetchError::Dependency {
                    image: image.to_string(),
                    dependency,
                });
            }
        }
        Ok(())
    }
}

/// The signer verified without a name; now that the manifest is known, one of the key's scopes
/// must cover its name by whole components.
fn check_signer_scope(
    path: &Path,
    signer: &AnySigner,
    manifest: &ImageManifest,
) -> Result<(), FetchError> {
    match signer.covers(&manifest.name) {
        Some(scope) => {
            tracing::debug!(
                file = %path.display(),
                key = %signer.signer.fingerprint,
                %scope,
                "signature verified"
            );
            Ok(())
        }
        None => Err(FetchError::WrongSigner {
            file: path.to_path_buf(),
            name: manifest.name.to_string(),
            fingerprint: signer.signer.fingerprint.clone(),
            scopes: signer.scopes.clone(),
        }),
    }
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> FetchError {
    let path = path.to_path_buf();
    move |error| FetchError::Io {
        path,
        action,
        error,
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Read a signature file, bounded; a missing one is [`FetchError::NoSignature`].
fn read_signature(file: &Path, sig: &Path) -> Result<Vec<u8>, FetchError> {
    let f = match File::open(sig) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(FetchError::NoSignature {
                file: file.to_path_buf(),
                looked: sig.to_path_buf(),
            });
        }
        Err(error) => {
            return Err(FetchError::Io {
                path: sig.to_path_buf(),
                action: "open its signature",
                error,
            });
        }
    };
    let mut out = Vec::new();
    f.take(MAX_SIGNATURE_SIZE + 1)
        .read_to_end(&mut out)
        .map_err(io_err(sig, "read its signature"))?;
    if out.len() as u64 > MAX_SIGNATURE_SIZE {
        return Err(FetchError::SignatureTooLarge {
            path: sig.to_path_buf(),
        });
    }
    Ok(out)
}

/// Copy `file` into an unnamed file in the store's temp dir (same filesystem as the store, gone
/// when closed), positioned at its start.
fn private_copy(fetcher: &Fetcher, file: &mut File, path: &Path) -> Result<File, FetchError> {
    let tmp_dir = fetcher.store.cas_dir().join("tmp");
    let mut copy = anonymous_file(&tmp_dir).map_err(|error| FetchError::Io {
        path: tmp_dir.clone(),
        action: "create a private copy of the image in",
        error,
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    crate::store::space::ensure_room(&tmp_dir, size).map_err(|error| FetchError::Space {
        image: path.display().to_string(),
        error,
    })?;
    io::copy(file, &mut copy).map_err(io_err(path, "copy it into the store's temp dir"))?;
    copy.seek(SeekFrom::Start(0))
        .map_err(io_err(path, "rewind its private copy"))?;
    Ok(copy)
}

fn anonymous_file(dir: &Path) -> io::Result<File> {
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    match rustix::fs::open(dir, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => Ok(File::from(fd)),
        // Filesystems without O_TMPFILE: a named file, unlinked at once.
        Err(_) => {
            let path = dir.join(fsutil::unique_name("verify-"));
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            std::fs::remove_file(&path)?;
            Ok(f)
        }
    }
}

fn file_url(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", abs.display())
}
