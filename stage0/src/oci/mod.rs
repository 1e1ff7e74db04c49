//! Docker and OCI images, run natively: layers are stored once by digest, rendered once each,
//! and stacked by overlayfs in the pod (no squashing into one ACI, no copies).
//!
//! Sources ([`reference`]): `docker://[REGISTRY[:PORT]/]NAME[:TAG|@DIGEST]` (Registry v2,
//! [`registry`]), `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE` ([`local`]).
//! Every blob is checked against its digest before it is kept; every layer's uncompressed
//! stream against the config's diff ID before its tree is kept. Images are unsigned, so they
//! need `--insecure-options=image`, as in rkt.
//!
//! # Store layout (added to the store's `cas/`)
//!
//! ```text
//! cas/layers/sha256/<hex>                        a layer blob as fetched (gzip, zstd or tar)
//! cas/tree/layer-sha256-<diff-id hex>/rootfs/    the layer rendered alone, whiteouts converted
//! cas/tree/layer-sha256-<diff-id hex>/{diffid,blob,image,rendered}
//! ```
//!
//! Each image itself is an ordinary store image (`cas/blob`, `cas/info`, `cas/imageManifest`):
//! a tiny ACI whose manifest is the appc manifest derived from the image config
//! ([`convert`]) and whose rootfs is empty. Its annotations [`convert::LAYERS_ANNOTATION`]
//! (diff IDs) and [`convert::BLOBS_ANNOTATION`] (blob digests), bottom layer first, tie it to its
//! layers. So `image list`, `cat-manifest`, `rm` and `gc` treat it like any image; layer blobs
//! no remaining image names are removed by [`prune_layers`] after `rm`/`gc`. Layer trees are
//! like other trees: image gc drops those no pod uses (pods list them in `treeStoreIDs`), and [`layer_stack`] renders them again
//! from their blobs when a pod needs them.
//!
//! # In a pod
//!
//! stage0 writes `appsinfo/<app>/treeStoreIDs` (see the stage1 ABI doc): the image's own
//! (empty) tree, then the layer trees top first; stage1 passes them as overlayfs lower dirs.

pub mod convert;
pub mod export;
pub mod layers;
pub mod local;
pub mod reference;
pub mod registry;
pub mod unpack;

use std::io::Read;
use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;

use crate::fetch::{Fetcher, PullPolicy};
use crate::insecure::Insecure;
use crate::store::{ImageInfo, Origin, Store, StoreError};
pub use convert::Naming;
pub use layers::Layers;
pub use reference::{DockerRef, OciSource};

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(
        "image {image}: Docker and OCI images are not signed; to run it anyway, use \
         --insecure-options=image"
    )]
    Unsigned { image: String },
    #[error("image {image}: {problem}")]
    Reference { image: String, problem: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{what}: digest mismatch: expected {expected}, got {actual}; the data is corrupt or was tampered with, nothing was stored"
    )]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error(
        "image {image}: {what} is larger than the image size limit of {} ({limit} bytes; a \
         decompression bomb?); nothing was kept; if the image is genuine, raise the limit with \
         --max-image-size (e.g. --max-image-size={})",
        crate::store::space::human(*.limit),
        crate::fetch::suggest_size(*.limit)
    )]
    ImageTooLarge {
        image: String,
        what: String,
        limit: u64,
    },
    #[error("{what}: {error}")]
    Space {
        what: String,
        error: crate::store::space::SpaceError,
    },
    #[error("layer {layer}: {problem}")]
    Layer { layer: String, problem: String },
    #[error("image config: {0}")]
    Config(String),
    #[error("{what}: {problem}")]
    Fetch { what: String, problem: String },
    #[error("{source_desc}: {problem}")]
    Source {
        source_desc: String,
        problem: String,
    },
    #[error("registry {registry}: {problem}")]
    Registry { registry: String, problem: String },
    #[error(
        "registry {registry}: authentication failed ({status}) for {repository}; set \
         credentials for it in a dockerAuth file in auth.d"
    )]
    Auth {
        registry: String,
        repository: String,
        status: u16,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// One layer of an image being imported: its blob digest when the source knows it (a `docker
/// save` tarball does not), its diff ID from the config, and where the source finds it.
#[derive(Debug, Clone)]
pub struct LayerRef {
    pub digest: Option<String>,
    pub diff_id: String,
    /// Source-specific locator (a path in a layout, a digest in a registry).
    pub locator: String,
}

/// What a source resolved: the config, the layers (bottom first) and how to name the image.
pub struct Pulled {
    pub config: Vec<u8>,
    pub layers: Vec<LayerRef>,
    pub naming: Naming,
    /// Where the image came from, recorded in its info.
    pub origin: String,
}

/// How a source hands out layer blobs.
pub trait BlobSource {
    fn open_layer(&mut self, layer: &LayerRef) -> Result<Box<dyn Read + '_>, OciError>;
}

/// What the import did with the layers: for the "stored once, rendered once" guarantees.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportStats {
    pub blobs_fetched: usize,
    pub layers_rendered: usize,
    pub layers_reused: usize,
}

/// Fetch `image` (`docker://…`, `oci:…`, `oci-archive:…`, `docker-archive:…`) into the store.
pub fn fetch(fetcher: &Fetcher, image: &str, source: OciSource) -> Result<ImageInfo, OciError> {
    if !fetcher.insecure.allows(Insecure::Image) {
        return Err(OciError::Unsigned {
            image: image.to_string(),
        });
    }
    match source {
        OciSource::Registry(r) => {
            if let Some(info) = stored(fetcher, &r)? {
                return Ok(info);
            }
            let mut client = registry::Client::new(fetcher, &r)?;
            let pulled = client.pull()?;
            import(fetcher, &mut client, pulled).map(|(i, _)| i)
        }
        OciSource::Layout { dir, reference } => {
            let mut src = local::Layout::open(&dir, reference.as_deref())?;
            let pulled = src.pull()?;
            import(fetcher, &mut src, pulled).map(|(i, _)| i)
        }
        OciSource::Archive { file, reference } => {
            let tmp = local::unpack_archive(&fetcher.store, &file, fetcher.max_uncompressed_size)
                .map_err(|e| archive_too_large(e, image, fetcher.max_uncompressed_size))?;
            let mut src = local::Layout::open(tmp.path(), reference.as_deref())?;
            let mut pulled = src.pull()?;
            pulled.origin = format!("oci-archive:{}", file.display());
            import(fetcher, &mut src, pulled).map(|(i, _)| i)
        }
        OciSource::DockerArchive { file } => {
            let tmp = local::unpack_archive(&fetcher.store, &file, fetcher.max_uncompressed_size)
                .map_err(|e| archive_too_large(e, image, fetcher.max_uncompressed_size))?;
            let mut src = local::DockerArchive::open(tmp.path(), &file)?;
            let pulled = src.pull()?;
            import(fetcher, &mut src, pulled).map(|(i, _)| i)
        }
    }
}

/// A local archive that unpacks to more than the limit is the image being too large.
fn archive_too_large(e: OciError, image: &str, limit: u64) -> OciError {
    match e {
        OciError::TooLarge { .. } => OciError::ImageTooLarge {
            image: image.to_string(),
            what: "the unpacked archive".into(),
            limit,
        },
        e => e,
    }
}

/// Pull policies `new` and `never` take a stored image with the same name and tag.
fn stored(fetcher: &Fetcher, r: &DockerRef) -> Result<Option<ImageInfo>, OciError> {
    if fetcher.pull_policy == PullPolicy::Update || r.digest.is_some() {
        return Ok(None);
    }
    let name = convert::ac_identifier(&format!("{}/{}", r.registry, r.repository));
    let found = fetcher
        .store
        .list()?
        .into_iter()
        .filter(|i| i.name == name && i.labels.get("version") == Some(&r.tag))
        .max_by_key(|i| i.import_time);
    match (found, fetcher.pull_policy) {
        (Some(i), _) => Ok(Some(i)),
        (None, PullPolicy::Never) => Err(OciError::Reference {
            image: format!("docker://{r}"),
            problem: "not in the store and pull policy \"never\" forbids fetching it".into(),
        }),
        (None, _) => Ok(None),
    }
}

/// Store and render every layer not there yet, then store the image itself.
pub fn import(
    fetcher: &Fetcher,
    src: &mut dyn BlobSource,
    pulled: Pulled,
) -> Result<(ImageInfo, ImportStats), OciError> {
    let config: ImageConfiguration = serde_json::from_slice(&pulled.config)
        .map_err(|e| OciError::Config(format!("{}: {e}", pulled.origin)))?;
    let layers = Layers::new(&fetcher.store)?;
    let mut stats = ImportStats::default();
    let mut added = Added::default();
    let (lowers, recorded) =
        match import_layers(fetcher, &layers, src, &pulled, &mut stats, &mut added) {
            Ok(done) => done,
            Err(e) => {
                // What this fetch added (a bomb's blob, trees of the layers below it) is of no
                // use without the image: remove it, so a failed fetch leaves the store as it was.
                for diff_id in &added.trees {
                    let _ = fetcher.store.remove_tree(&Layers::tree_id(diff_id));
                }
                for digest in &added.blobs {
                    let _ = layers.remove_blob(digest);
                }
                return Err(e);
            }
        };
    tracing::info!(
        image = %pulled.origin,
        fetched = stats.blobs_fetched,
        rendered = stats.layers_rendered,
        reused = stats.layers_reused,
        "layers"
    );
    let manifest = convert::manifest(&config, &pulled.naming, &recorded, &lowers)?;
    let mut aci = Vec::new();
    aci::archive::write_aci_entries(
        &manifest,
        Vec::new(),
        &mut aci,
        aci::archive::Compression::None,
    )
    .map_err(|e| OciError::Config(e.to_string()))?;
    let origin = Origin {
        aci_url: Some(pulled.origin),
        download_time: Some((crate::store::info::now_nanos() / 1_000_000_000) as u64),
        ..Origin::default()
    };
    let info = fetcher.store.import(&aci[..], origin)?;
    Ok((info, stats))
}

/// A layer as recorded in the image's manifest: (diff ID, blob digest).
type LayerPair = (String, String);

/// Blobs and layer trees an import added, to remove when it fails.
#[derive(Default)]
struct Added {
    blobs: Vec<String>,
    trees: Vec<String>,
}

/// Store and render the layers of `pulled`, bottom first; returns the rootfs dirs (top first)
/// and the (diff ID, blob digest) pairs. The size limit holds for the whole image: what this
/// fetch unpacks counts against it, layer after layer.
fn import_layers(
    fetcher: &Fetcher,
    layers: &Layers,
    src: &mut dyn BlobSource,
    pulled: &Pulled,
    stats: &mut ImportStats,
    added: &mut Added,
) -> Result<(Vec<PathBuf>, Vec<LayerPair>), OciError> {
    let limit = fetcher.max_uncompressed_size;
    let mut budget = limit;
    let mut lowers: Vec<PathBuf> = Vec::new(); // top first
    let mut recorded = Vec::new();
    for layer in &pulled.layers {
        reference::check_digest(&layer.diff_id).map_err(OciError::Config)?;
        let name = layer.digest.as_deref().unwrap_or(&layer.locator);
        let too_large = |e: OciError| match e {
            OciError::TooLarge { .. } => OciError::ImageTooLarge {
                image: pulled.origin.clone(),
                what: format!("its uncompressed content (stopped at layer {name})"),
                limit,
            },
            e => e,
        };
        let known = layer
            .digest
            .clone()
            .or_else(|| std::fs::read_to_string(layers.tree_dir(&layer.diff_id).join("blob")).ok());
        let digest = match known {
            Some(d) if layers.has_blob(&d) => d,
            _ => {
                let reader = src.open_layer(layer)?;
                stats.blobs_fetched += 1;
                let what = format!("layer {name}");
                let d = layers
                    .put_blob(layer.digest.as_deref(), reader, limit, &what)
                    .map_err(too_large)?;
                added.blobs.push(d.clone());
                d
            }
        };
        match layers
            .render(&layer.diff_id, &digest, &lowers, budget)
            .map_err(too_large)?
        {
            Some(s) => {
                budget = budget.saturating_sub(s.bytes);
                stats.layers_rendered += 1;
                added.trees.push(layer.diff_id.clone());
            }
            None => stats.layers_reused += 1,
        }
        lowers.insert(0, layers.rootfs(&layer.diff_id));
        recorded.push((layer.diff_id.clone(), digest));
    }
    Ok((lowers, recorded))
}

/// The layers (diff ID, blob digest), bottom first, of a stored image; None for an ACI.
pub fn image_layers(manifest: &aci::manifest::ImageManifest) -> Option<Vec<(String, String)>> {
    let get = |name: &str| {
        manifest
            .annotations
            .iter()
            .find(|a| a.name.as_str() == name)
            .map(|a| a.value.clone())
    };
    let ids = get(convert::LAYERS_ANNOTATION)?;
    let blobs = get(convert::BLOBS_ANNOTATION).unwrap_or_default();
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (ids, blobs) = (split(&ids), split(&blobs));
    (ids.len() == blobs.len()).then(|| ids.into_iter().zip(blobs).collect())
}

/// For an OCI image: make sure every layer tree is rendered (again, after a gc) and return
/// their tree IDs top first. None for an ACI.
pub fn layer_stack(
    store: &Store,
    manifest: &aci::manifest::ImageManifest,
    limit: u64,
) -> Result<Option<Vec<String>>, OciError> {
    let Some(list) = image_layers(manifest) else {
        return Ok(None);
    };
    let layers = Layers::new(store)?;
    let mut lowers = Vec::new();
    let mut ids = Vec::new();
    for (diff_id, digest) in &list {
        reference::check_digest(diff_id).map_err(OciError::Config)?;
        reference::check_digest(digest).map_err(OciError::Config)?;
        if !layers.is_rendered(diff_id) {
            if !layers.has_blob(digest) {
                return Err(OciError::Layer {
                    layer: digest.clone(),
                    problem: format!(
                        "the blob of image {} is missing from the store; fetch the image again",
                        manifest.name
                    ),
                });
            }
            layers.render(diff_id, digest, &lowers, limit)?;
        }
        lowers.insert(0, layers.rootfs(diff_id));
        ids.insert(0, Layers::tree_id(diff_id));
    }
    Ok(Some(ids))
}

/// Remove layer blobs that no stored image names; returns the blobs removed. Their trees are
/// left to image gc, which knows which trees pods still use.
pub fn prune_layers(store: &Store) -> Result<Vec<String>, OciError> {
    let layers = Layers::new(store)?;
    let mut used = std::collections::HashSet::new();
    for info in store.list()? {
        let Ok(m) = store.manifest(&info.key) else {
            continue;
        };
        used.extend(
            image_layers(&m)
                .unwrap_or_default()
                .into_iter()
                .map(|(_, b)| b),
        );
    }
    let mut removed = Vec::new();
    for blob in layers.blobs()? {
        if !used.contains(&blob) {
            layers.remove_blob(&blob)?;
            removed.push(blob);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
