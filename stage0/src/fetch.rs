//! Getting an image into the store: what `rkt fetch` (and later `run`/`prepare`) do with an image
//! argument (rkt.md §3, §4).
//!
//! Sources: an image ID prefix (`sha512-…`, always from the store), an image file (a path or
//! `file://`, always read from disk), an `https://` archive URL and an appc name (the store, then
//! meta discovery, as the pull policy says; see `remote`). Docker registries are not supported.
//!
//! A file's detached signature (`--signature FILE` or `<file>.asc`) is checked against the trust
//! store **before** the archive is decompressed or parsed (security.md T7). Because a file has no
//! requested name, any trusted key may have signed it; once the image is staged (parsed and
//! validated, not yet visible), the signer's scope must cover the manifest name by whole
//! components (T5), or nothing is committed.

mod file;
mod policy;
mod progress;
mod remote;
mod size;

use std::path::PathBuf;

use aci::discovery::{AppReference, host_os_arch};

pub use policy::{PullPolicy, UnknownPullPolicy};
pub use progress::Progress;
pub use size::{SizeError, parse_size, suggest_size};

use crate::image_ref::{ImageRef, ImageRefError};
use crate::insecure::InsecureOptions;
use crate::store::{ImageInfo, Store, StoreError};
use crate::trust::{Scope, TrustError};

/// Default bound on an image's uncompressed size (`--max-image-size`): 8 GiB. Big real images
/// (CUDA and ML toolchains) stay below it; a decompression bomb (a few MB that unpack to
/// terabytes) stops there, after seconds of decompressing, instead of filling the disk. The
/// free-space guard ([`crate::store::space`]) watches the disk below that.
pub const DEFAULT_MAX_UNCOMPRESSED_SIZE: u64 = 8 << 30;

/// The bound for re-rendering what the store already holds: it was held to the limit in force
/// when it was fetched, which may have been raised above the default.
pub const STORED_IMAGE_LIMIT: u64 = u64::MAX;

/// Largest accepted signature file; armored detached signatures are a few hundred bytes.
pub const MAX_SIGNATURE_SIZE: u64 = 1 << 20;

const WHAT_WORKS: &str = "rkt-rs fetches image files (a path or file://), https:// URLs, appc \
                          names (through the store and meta discovery) and sha512- image IDs";

/// Why an image could not be fetched. Each message names the image or file and what to do;
/// causes are part of the message (fields named `error`, not error sources), so rkt's one-line
/// report of the whole chain does not repeat them.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Reference(#[from] ImageRefError),
    #[error("image {image:?}: fetching {what} is not supported yet; {WHAT_WORKS}")]
    RemoteUnsupported { image: String, what: &'static str },
    #[error(
        "image {image:?} is not in the store and pull policy \"never\" forbids fetching it; \
         fetch it first (e.g. `rkt fetch <file>.aci`)"
    )]
    NotInStoreNever { image: String },
    #[error(
        "image {image:?}: discovery offered no image endpoint that could be fetched; fetch the \
         image file with `rkt fetch <file>.aci`"
    )]
    NotInStore { image: String },
    #[error("image {image}: {error}")]
    Store { image: String, error: StoreError },
    #[error("image file {path}: cannot {action}: {error}")]
    Io {
        path: PathBuf,
        action: &'static str,
        error: std::io::Error,
    },
    #[error("image file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error(
        "image file {file} is not signed: no signature at {looked}; give one with \
         --signature=FILE, or skip verification with --insecure-options=image"
    )]
    NoSignature { file: PathBuf, looked: PathBuf },
    #[error("signature file {path} is larger than {MAX_SIGNATURE_SIZE} bytes")]
    SignatureTooLarge { path: PathBuf },
    #[error(
        "image file {file}: signature {signature} not accepted: {error} (or skip verification \
         with --insecure-options=image)"
    )]
    Signature {
        file: PathBuf,
        signature: PathBuf,
        error: Box<TrustError>,
    },
    #[error(
        "image file {file} holds image {name:?}, but its signature is by key {fingerprint}, \
         which is trusted only for {}; if that key belongs to the publisher of {name}, trust \
         it with `rkt trust --prefix={name} <key>` (or skip verification with \
         --insecure-options=image)",
        scopes_text(.scopes)
    )]
    WrongSigner {
        file: PathBuf,
        name: String,
        fingerprint: String,
        scopes: Vec<Scope>,
    },
    #[error(
        "image {image}: dependency {dependency} is not in the store (fetching dependencies is \
         not supported yet: fetch it first, then fetch {image} again)"
    )]
    Dependency { image: String, dependency: String },
    #[error("{0}")]
    Oci(Box<crate::oci::OciError>),
    #[error("image {image}: rendering it into the tree store: {error}")]
    Render { image: String, error: StoreError },
    #[error("image {image}: {error}")]
    Remote {
        image: String,
        error: crate::remote::RemoteError,
    },
    #[error(
        "image {image}: cannot get its signature {url}: {error} (or skip verification with \
         --insecure-options=image)"
    )]
    NoRemoteSignature {
        image: String,
        url: String,
        error: crate::remote::RemoteError,
    },
    #[error(
        "image {image}: signature {url} not accepted: {error} (or skip verification with \
         --insecure-options=image)"
    )]
    RemoteSignatureRefused {
        image: String,
        url: String,
        error: Box<TrustError>,
    },
    #[error("image {image}: the server sent {got}, which is not what was asked for ({wanted})")]
    Mismatch {
        image: String,
        wanted: String,
        got: String,
    },
    #[error("image {image}: dependency cycle {chain}")]
    DependencyCycle { image: String, chain: String },
    #[error("image {image}: more than {limit} dependencies to fetch")]
    TooManyDependencies { image: String, limit: usize },
    #[error("key {url}: cannot trust it: {error}")]
    KeyFromHttps { url: String, error: Box<TrustError> },
    #[error(
        "image {image}: {what} is larger than the image size limit of {} ({limit} bytes; a \
         decompression bomb?); nothing was kept; if the image is genuine, raise the limit with \
         --max-image-size (e.g. --max-image-size={})",
        crate::store::space::human(*.limit),
        suggest_size(*.limit)
    )]
    TooLarge {
        image: String,
        what: &'static str,
        limit: u64,
    },
    #[error("image {image}: {error}")]
    Space {
        image: String,
        error: crate::store::space::SpaceError,
    },
}

impl FetchError {
    /// A store error while staging `image`, with the size limit and the free-space guard
    /// reported as what they are.
    pub(crate) fn staging(image: &str, limit: u64, error: StoreError) -> FetchError {
        match error {
            StoreError::Archive(aci::archive::ArchiveError::TooLarge { .. }) => {
                FetchError::TooLarge {
                    image: image.to_string(),
                    what: "its uncompressed content",
                    limit,
                }
            }
            StoreError::Space(error) => FetchError::Space {
                image: image.to_string(),
                error,
            },
            error => FetchError::Store {
                image: image.to_string(),
                error,
            },
        }
    }
}

fn scopes_text(scopes: &[Scope]) -> String {
    let v: Vec<String> = scopes.iter().map(ToString::to_string).collect();
    v.join(", ")
}

/// Fetches images into a store. Build it with [`Fetcher::new`] and adjust the public fields.
#[derive(Clone)]
pub struct Fetcher {
    pub store: Store,
    pub keystore: crate::trust::Keystore,
    pub insecure: InsecureOptions,
    pub pull_policy: PullPolicy,
    /// An explicit signature for the image (`--signature`), instead of `<file>.asc`.
    pub signature: Option<PathBuf>,
    /// Bound on an image's uncompressed tar.
    pub max_uncompressed_size: u64,
    /// Render each imported image into the tree store (rkt does when running as root).
    pub render: bool,
    /// Where to report the progress of reading an image (a terminal progress bar), if anywhere.
    pub progress: Option<std::sync::Arc<dyn Progress>>,
    /// auth.d entries by domain, for remote fetches.
    pub auth: std::collections::BTreeMap<String, crate::config::AuthConfig>,
    /// `--trust-keys-from-https`: trust the keys discovery names over HTTPS when none covers
    /// the image yet.
    pub trust_keys_from_https: bool,
    /// Longest wait for the server on any read (default: the client's).
    pub http_read_timeout: Option<std::time::Duration>,
    /// Registry credentials (`dockerAuth` in auth.d) for `docker://` images.
    pub docker_auth: std::collections::BTreeMap<String, crate::config::DockerAuthConfig>,
}

impl Fetcher {
    /// A fetcher with rkt's `fetch` defaults: pull policy `update`, no insecure options,
    /// rendering when running as root.
    pub fn new(store: Store, keystore: crate::trust::Keystore) -> Fetcher {
        Fetcher {
            store,
            keystore,
            insecure: InsecureOptions::none(),
            pull_policy: PullPolicy::Update,
            signature: None,
            max_uncompressed_size: DEFAULT_MAX_UNCOMPRESSED_SIZE,
            render: rustix::process::geteuid().is_root(),
            progress: None,
            auth: Default::default(),
            trust_keys_from_https: false,
            http_read_timeout: None,
            docker_auth: std::collections::BTreeMap::new(),
        }
    }

    /// Get the image `image` (any form rkt accepts) into the store and return its info.
    pub fn fetch(&self, image: &str) -> Result<ImageInfo, FetchError> {
        match ImageRef::parse(image)? {
            ImageRef::Hash(prefix) => {
                self.store
                    .find_by_id(&prefix)
                    .map_err(|error| FetchError::Store {
                        image: image.to_string(),
                        error,
                    })
            }
            ImageRef::Path(path) => self.fetch_file(&path),
            ImageRef::Name(app) => self.fetch_name(image, &app),
            ImageRef::Url(url) => self.fetch_url(image, &url),
            ImageRef::Docker(rest) => {
                let oci = |e: crate::oci::OciError| FetchError::Oci(Box::new(e));
                let r = crate::oci::DockerRef::parse(&rest).map_err(|problem| {
                    oci(crate::oci::OciError::Reference {
                        image: image.to_string(),
                        problem,
                    })
                })?;
                crate::oci::fetch(self, image, crate::oci::OciSource::Registry(r)).map_err(oci)
            }
            ImageRef::Oci(source) => {
                crate::oci::fetch(self, image, source).map_err(|e| FetchError::Oci(Box::new(e)))
            }
        }
    }

    /// Before a staged image is committed: rendering it must leave the store's filesystem
    /// above its safety margin, or nothing is committed.
    pub(crate) fn check_room(
        &self,
        image: &str,
        staged: &crate::store::StagedImage<'_>,
    ) -> Result<(), FetchError> {
        if !self.render {
            return Ok(());
        }
        crate::store::space::ensure_room(self.store.cas_dir(), staged.uncompressed_size()).map_err(
            |error| FetchError::Space {
                image: image.to_string(),
                error,
            },
        )
    }

    /// A name: `new` and `never` take a stored image; `update` (or no stored image under `new`)
    /// goes through discovery, where the store's copy of the discovered URL is revalidated.
    fn fetch_name(&self, image: &str, app: &AppReference) -> Result<ImageInfo, FetchError> {
        let found = find_name(&self.store, app).map_err(|error| FetchError::Store {
            image: image.to_string(),
            error,
        })?;
        match (found, self.pull_policy) {
            (Some(info), PullPolicy::New | PullPolicy::Never) => Ok(info),
            (None, PullPolicy::Never) => Err(FetchError::NotInStoreNever {
                image: image.to_string(),
            }),
            _ => self.fetch_discovered(image, app),
        }
    }
}

/// The newest stored image that `app` asks for: same name, every requested label equal, except
/// that `os`/`arch` (which default to the host's) only have to match when the image declares
/// them: an image without them is OS-independent.
pub fn find_name(store: &Store, app: &AppReference) -> Result<Option<ImageInfo>, StoreError> {
    let (host_os, host_arch) = host_os_arch();
    let mut wanted: Vec<(&str, &str)> = app
        .labels()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (label, host) in [("os", host_os), ("arch", host_arch)] {
        if app.label(label).is_none() {
            wanted.push((label, host));
        }
    }
    Ok(store
        .list()?
        .into_iter()
        .filter(|info| info.name == app.name().as_str())
        .filter(|info| {
            wanted.iter().all(|(k, v)| match info.labels.get(*k) {
                Some(have) => have == v,
                None => *k == "os" || *k == "arch",
            })
        })
        .max_by_key(|info| info.import_time))
}

#[cfg(test)]
mod tests;
