//! Local sources: an OCI image layout directory (`oci:`), a tar of one (`oci-archive:`) and a
//! `docker save` tarball (`docker-archive:`). Archives are first unpacked (safely) into a
//! temporary directory under `cas/tmp/`, removed afterwards.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use aci::extract::{Existing, ExtractOptions, Extractor};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use sha2::{Digest, Sha256};

use super::convert::{Naming, ac_identifier};
use super::layers::Limited;
use super::reference::{DockerRef, check_digest};
use super::{BlobSource, LayerRef, OciError, Pulled};
use crate::store::Store;
use crate::store::space::{GuardedRead, SpaceGuard};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Bound on manifests, indexes and configs read into memory.
const MAX_JSON: u64 = 8 << 20;

/// A directory removed when dropped.
pub struct TmpDir(PathBuf);

impl TmpDir {
    /// A fresh directory under the store's `cas/tmp/`.
    pub fn new(store: &Store) -> Result<TmpDir, OciError> {
        let dir = store.cas_dir().join("tmp").join(format!(
            "oci-{}-{}",
            std::process::id(),
            crate::store::info::now_nanos()
        ));
        fs::create_dir(&dir).map_err(|e| src_err(&dir, e.to_string()))?;
        Ok(TmpDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn src_err(what: &Path, problem: impl Into<String>) -> OciError {
    OciError::Source {
        source_desc: what.display().to_string(),
        problem: problem.into(),
    }
}

/// Unpack the tar `file` into a fresh directory under the store's `cas/tmp/`.
pub fn unpack_archive(store: &Store, file: &Path, limit: u64) -> Result<TmpDir, OciError> {
    let tmp = TmpDir::new(store)?;
    let f = File::open(file).map_err(|e| src_err(file, format!("cannot open: {e}")))?;
    let opts = ExtractOptions {
        allow_devices: false,
        preserve_ownership: false,
        on_existing: Existing::Error,
    };
    let mut ex = Extractor::new(tmp.path(), opts).map_err(|e| src_err(file, e.to_string()))?;
    let stream =
        super::layers::decompress(std::io::BufReader::new(f), &file.display().to_string())?;
    // Bounded and watched like a layer: a compressed archive can be a bomb too.
    let guarded = GuardedRead::new(stream, SpaceGuard::new(tmp.path()));
    let mut archive = tar::Archive::new(Limited::new(guarded, limit));
    let result = extract_all(&mut archive, &mut ex, file);
    let counted = archive.into_inner();
    if counted.over() {
        return Err(OciError::TooLarge {
            what: format!("archive {}", file.display()),
            limit,
        });
    }
    let mut guarded = counted.inner;
    if let Some(error) = guarded.refused.take() {
        return Err(OciError::Space {
            what: format!("archive {}", file.display()),
            error,
        });
    }
    result?;
    ex.finish().map_err(|e| src_err(file, e.to_string()))?;
    Ok(tmp)
}

fn extract_all(
    archive: &mut tar::Archive<impl std::io::Read>,
    ex: &mut Extractor,
    file: &Path,
) -> Result<(), OciError> {
    let entries = archive
        .entries()
        .map_err(|e| src_err(file, e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| src_err(file, e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| src_err(file, e.to_string()))?
            .into_owned();
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular => aci::entry::EntryKind::File,
            tar::EntryType::Directory => aci::entry::EntryKind::Dir,
            // Layouts and `docker save` tarballs hold files and dirs; links are not needed.
            _ => continue,
        };
        let header = aci::entry::EntryHeader {
            path,
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: entry.size(),
            xattrs: Vec::new(),
        };
        ex.apply(&header, &mut entry)
            .map_err(|e| src_err(file, e.to_string()))?;
    }
    Ok(())
}

fn read_limited(path: &Path) -> Result<Vec<u8>, OciError> {
    let f = File::open(path).map_err(|e| src_err(path, format!("cannot open: {e}")))?;
    let mut out = Vec::new();
    f.take(MAX_JSON + 1)
        .read_to_end(&mut out)
        .map_err(|e| src_err(path, e.to_string()))?;
    if out.len() as u64 > MAX_JSON {
        return Err(src_err(path, format!("larger than {MAX_JSON} bytes")));
    }
    Ok(out)
}

/// Check bytes against the descriptor's digest (sha256 only).
pub fn verify(bytes: &[u8], digest: &str, what: &str) -> Result<(), OciError> {
    check_digest(digest).map_err(OciError::Config)?;
    let actual = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    if actual != digest {
        return Err(OciError::DigestMismatch {
            what: what.to_string(),
            expected: digest.to_string(),
            actual,
        });
    }
    Ok(())
}

/// Pick linux/amd64 from an index's manifests (entries without a platform count as a match).
pub fn choose_platform<'a>(
    manifests: &'a [Descriptor],
    what: &str,
) -> Result<&'a Descriptor, OciError> {
    manifests
        .iter()
        .find(|d| {
            d.platform().as_ref().is_none_or(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == "amd64"
            })
        })
        .ok_or_else(|| OciError::Config(format!("{what}: no image for linux/amd64")))
}

/// An OCI image layout directory.
pub struct Layout {
    dir: PathBuf,
    reference: Option<String>,
}

impl Layout {
    pub fn open(dir: &Path, reference: Option<&str>) -> Result<Layout, OciError> {
        if !dir.join("oci-layout").is_file() {
            return Err(src_err(dir, "not an OCI image layout (no oci-layout file)"));
        }
        Ok(Layout {
            dir: dir.to_path_buf(),
            reference: reference.map(str::to_string),
        })
    }

    fn blob(&self, digest: &str) -> Result<PathBuf, OciError> {
        check_digest(digest).map_err(OciError::Config)?;
        Ok(self
            .dir
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..]))
    }

    fn read_blob(&self, d: &Descriptor) -> Result<Vec<u8>, OciError> {
        let digest = d.digest().to_string();
        let bytes = read_limited(&self.blob(&digest)?)?;
        verify(
            &bytes,
            &digest,
            &format!("blob {digest} in {}", self.dir.display()),
        )?;
        Ok(bytes)
    }

    fn pick<'a>(&self, index: &'a ImageIndex) -> Result<&'a Descriptor, OciError> {
        let ms = index.manifests();
        let named = |d: &&Descriptor| {
            let name = d.annotations().as_ref().and_then(|a| a.get(REF_NAME));
            match (&self.reference, name) {
                (Some(want), Some(have)) => have == want || have.ends_with(&format!(":{want}")),
                _ => false,
            }
        };
        match &self.reference {
            Some(r) => ms.iter().find(named).ok_or_else(|| {
                src_err(
                    &self.dir,
                    format!("no image with reference {r:?} in index.json"),
                )
            }),
            None if ms.len() == 1 => Ok(&ms[0]),
            None => Err(src_err(
                &self.dir,
                format!(
                    "index.json lists {} images; say which with oci:DIR:REF",
                    ms.len()
                ),
            )),
        }
    }

    /// Resolve the image: index → (nested index →) manifest → config.
    pub fn pull(&mut self) -> Result<Pulled, OciError> {
        let index_path = self.dir.join("index.json");
        let index: ImageIndex = serde_json::from_slice(&read_limited(&index_path)?)
            .map_err(|e| src_err(&index_path, e.to_string()))?;
        let mut desc = self.pick(&index)?.clone();
        for _ in 0..4 {
            if *desc.media_type() != MediaType::ImageIndex {
                break;
            }
            let nested: ImageIndex = serde_json::from_slice(&self.read_blob(&desc)?)
                .map_err(|e| src_err(&self.dir, e.to_string()))?;
            desc = choose_platform(nested.manifests(), &self.dir.display().to_string())?.clone();
        }
        let manifest: ImageManifest = serde_json::from_slice(&self.read_blob(&desc)?)
            .map_err(|e| src_err(&self.dir, format!("image manifest: {e}")))?;
        let config = self.read_blob(manifest.config())?;
        let base = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let naming = Naming {
            name: ac_identifier(&format!("oci/{base}")),
            version: self.reference.clone().unwrap_or_else(|| "latest".into()),
            config_digest: manifest.config().digest().to_string(),
            ..Naming::default()
        };
        Ok(Pulled {
            layers: layer_refs(&manifest, &config)?,
            config,
            naming,
            origin: format!("oci:{}", self.dir.display()),
        })
    }
}

/// The manifest's layers paired with the config's diff IDs.
pub fn layer_refs(manifest: &ImageManifest, config: &[u8]) -> Result<Vec<LayerRef>, OciError> {
    let diff_ids = diff_ids(config)?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(OciError::Config(format!(
            "the manifest has {} layers but the config {} diff IDs",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    Ok(manifest
        .layers()
        .iter()
        .zip(diff_ids)
        .map(|(l, diff_id)| LayerRef {
            digest: Some(l.digest().to_string()),
            diff_id,
            locator: l.digest().to_string(),
        })
        .collect())
}

fn diff_ids(config: &[u8]) -> Result<Vec<String>, OciError> {
    let c: oci_spec::image::ImageConfiguration =
        serde_json::from_slice(config).map_err(|e| OciError::Config(e.to_string()))?;
    Ok(c.rootfs().diff_ids().clone())
}

impl BlobSource for Layout {
    fn open_layer(&mut self, layer: &LayerRef) -> Result<Box<dyn Read + '_>, OciError> {
        let path = self.blob(&layer.locator)?;
        let f = File::open(&path).map_err(|e| src_err(&path, format!("cannot open: {e}")))?;
        Ok(Box::new(f))
    }
}

/// An unpacked `docker save` tarball: `manifest.json` names the config and the layer tars.
pub struct DockerArchive {
    dir: PathBuf,
    file: PathBuf,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl DockerArchive {
    pub fn open(dir: &Path, file: &Path) -> Result<DockerArchive, OciError> {
        Ok(DockerArchive {
            dir: dir.to_path_buf(),
            file: file.to_path_buf(),
        })
    }

    fn inside(&self, rel: &str) -> Result<PathBuf, OciError> {
        let rel = aci::entry::normalize_rel(Path::new(rel))
            .map_err(|e| src_err(&self.file, e.to_string()))?;
        Ok(self.dir.join(rel))
    }

    pub fn pull(&mut self) -> Result<Pulled, OciError> {
        let m = self.dir.join("manifest.json");
        let entries: Vec<SaveEntry> = serde_json::from_slice(&read_limited(&m)?)
            .map_err(|e| src_err(&self.file, format!("manifest.json: {e}")))?;
        let [entry] = entries.as_slice() else {
            return Err(src_err(
                &self.file,
                format!(
                    "holds {} images; rkt-rs imports one per archive",
                    entries.len()
                ),
            ));
        };
        let config = read_limited(&self.inside(&entry.config)?)?;
        let ids = diff_ids(&config)?;
        if ids.len() != entry.layers.len() {
            return Err(OciError::Config(format!(
                "{}: {} layers but {} diff IDs",
                self.file.display(),
                entry.layers.len(),
                ids.len()
            )));
        }
        let layers = entry
            .layers
            .iter()
            .zip(ids)
            .map(|(path, diff_id)| LayerRef {
                digest: None,
                diff_id,
                locator: path.clone(),
            })
            .collect();
        let tag = entry.repo_tags.as_ref().and_then(|t| t.first()).cloned();
        let naming = match tag.as_deref().map(DockerRef::parse) {
            Some(Ok(r)) => Naming {
                name: ac_identifier(&format!("{}/{}", r.registry, r.repository)),
                version: r.tag.clone(),
                registry: Some(r.registry),
                repository: Some(r.repository),
                ..Naming::default()
            },
            _ => Naming {
                name: ac_identifier(&format!(
                    "docker-archive/{}",
                    self.file
                        .file_stem()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_default()
                )),
                version: "latest".into(),
                ..Naming::default()
            },
        };
        let naming = Naming {
            config_digest: format!("sha256:{}", hex::encode(Sha256::digest(&config))),
            ..naming
        };
        Ok(Pulled {
            config,
            layers,
            naming,
            origin: format!("docker-archive:{}", self.file.display()),
        })
    }
}

impl BlobSource for DockerArchive {
    fn open_layer(&mut self, layer: &LayerRef) -> Result<Box<dyn Read + '_>, OciError> {
        let path = self.inside(&layer.locator)?;
        let f = File::open(&path).map_err(|e| src_err(&path, format!("cannot open: {e}")))?;
        Ok(Box::new(f))
    }
}
