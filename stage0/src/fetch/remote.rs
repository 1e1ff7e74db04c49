//! Fetching from remotes: `https://` archive URLs and appc names through meta discovery
//! (rkt.md §4, appc.md, security.md T5–T7, T15).
//!
//! Order of a remote fetch: the store's copy for this URL decides first (pull policy, then
//! `Cache-Control: max-age`); otherwise the signature is fetched (if that fails it is tried again
//! after the image, for servers that make it on demand), the image is downloaded (resumably,
//! `If-None-Match` with the stored copy's ETag), the signature checked over the downloaded bytes
//! **before** the archive is parsed, the archive staged and checked against the request, and
//! only then committed. Dependencies follow, breadth-first, through discovery.

use std::collections::VecDeque;
use std::io::BufReader;

use aci::discovery::{AciEndpoint, AppReference, host_os_arch};
use aci::manifest::{Dependency, ImageManifest};

use super::{FetchError, Fetcher, PullPolicy};
use crate::insecure::Insecure;
use crate::remote::{self, CompleteDownload, Downloaded, HttpClient};
use crate::store::{ImageInfo, Origin};

/// Dependencies fetched for one image, at most: a chain of ever new names ends here.
const MAX_DEPENDENCIES: usize = 256;

/// What to fetch and what it must turn out to be.
struct Target<'a> {
    image: &'a str,
    endpoint: AciEndpoint,
    /// The request by name (discovery), which the manifest must satisfy; None for a bare URL.
    expected: Option<&'a AppReference>,
}

impl Fetcher {
    /// The HTTP client for this fetcher's insecure options and auth.d entries.
    pub fn client(&self) -> Result<HttpClient, FetchError> {
        let mut c = HttpClient::new(&self.auth).map_err(|error| FetchError::Remote {
            image: "auth.d".into(),
            error,
        })?;
        c.allow_http = self.insecure.allows(Insecure::Http);
        c.skip_tls_verify = self.insecure.allows(Insecure::Tls);
        if let Some(t) = self.http_read_timeout {
            c.read_timeout = t;
        }
        Ok(c)
    }

    /// `https://…/x.aci`: its signature is `x.aci.asc` beside it.
    pub(super) fn fetch_url(&self, image: &str, url: &str) -> Result<ImageInfo, FetchError> {
        let target = Target {
            image,
            endpoint: AciEndpoint {
                aci_url: url.to_string(),
                asc_url: format!("{url}.asc"),
            },
            expected: None,
        };
        let info = self.fetch_remote(&target)?;
        self.finish(image, info)
    }

    /// An appc name not satisfied by the store (or pull policy `update`): discover and fetch.
    pub(super) fn fetch_discovered(
        &self,
        image: &str,
        app: &AppReference,
    ) -> Result<ImageInfo, FetchError> {
        let info = self.discover_and_fetch(image, app)?;
        self.finish(image, info)
    }

    fn finish(&self, image: &str, info: ImageInfo) -> Result<ImageInfo, FetchError> {
        let manifest = self
            .store
            .manifest(&info.key)
            .map_err(|error| FetchError::Store {
                image: image.to_string(),
                error,
            })?;
        self.fetch_dependencies(image, &manifest)?;
        if self.render {
            self.store
                .render_tree(&info.key)
                .map_err(|error| FetchError::Render {
                    image: image.to_string(),
                    error,
                })?;
        }
        Ok(info)
    }

    fn discover_and_fetch(&self, image: &str, app: &AppReference) -> Result<ImageInfo, FetchError> {
        let (os, arch) = host_os_arch();
        let app = app.clone().with_defaults(os, arch).map_err(|e| {
            FetchError::Reference(crate::image_ref::ImageRefError::Name {
                input: image.to_string(),
                source: Box::new(e),
            })
        })?;
        let client = self.client()?;
        let remote_err = |error| FetchError::Remote {
            image: image.to_string(),
            error,
        };
        let found = remote::discover(&client, &app, false).map_err(remote_err)?;
        if self.trust_keys_from_https && !self.insecure.allows(Insecure::Image) {
            self.trust_discovered_keys(&client, &app, &found)?;
        }
        let mut last = None;
        for endpoint in found.endpoints.aci {
            let target = Target {
                image,
                endpoint,
                expected: Some(&app),
            };
            match self.fetch_remote(&target) {
                Ok(info) => return Ok(info),
                Err(e) => {
                    tracing::debug!(image, error = %e, "endpoint failed; trying the next one");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| FetchError::NotInStore {
            image: image.to_string(),
        }))
    }

    /// `--trust-keys-from-https`: when no key covers the name yet, trust the keys the
    /// discovery page (fetched over HTTPS) names, for the image name as prefix.
    fn trust_discovered_keys(
        &self,
        client: &HttpClient,
        app: &AppReference,
        found: &remote::Discovered,
    ) -> Result<(), FetchError> {
        let covered = self
            .keystore
            .list()
            .map(|keys| {
                keys.iter()
                    .any(|k| k.problem.is_none() && k.scope.covers(app.name()))
            })
            .unwrap_or(false);
        if covered || !found.https {
            return Ok(());
        }
        let mut client = client.clone();
        client.allow_http = false;
        for url in &found.endpoints.keys {
            let key =
                crate::trust::fetch_key(&client, url).map_err(|error| FetchError::Remote {
                    image: app.to_string(),
                    error,
                })?;
            let stored = self
                .keystore
                .store_prefix_key(app.name(), &key)
                .map_err(|error| FetchError::KeyFromHttps {
                    url: url.clone(),
                    error: Box::new(error),
                })?;
            tracing::info!(
                key = %stored.fingerprint,
                prefix = %app.name(),
                url,
                "trusted a key fetched over HTTPS (--trust-keys-from-https)"
            );
        }
        Ok(())
    }

    /// The newest stored image downloaded from `url`.
    fn cached_for(&self, image: &str, url: &str) -> Result<Option<ImageInfo>, FetchError> {
        let all = self.store.list().map_err(|error| FetchError::Store {
            image: image.to_string(),
            error,
        })?;
        Ok(all
            .into_iter()
            .filter(|i| i.origin.aci_url.as_deref() == Some(url))
            .max_by_key(|i| i.import_time))
    }

    fn fetch_remote(&self, t: &Target<'_>) -> Result<ImageInfo, FetchError> {
        let url = &t.endpoint.aci_url;
        let cached = self.cached_for(t.image, url)?;
        match (&cached, self.pull_policy) {
            (Some(info), PullPolicy::New | PullPolicy::Never) => return Ok(info.clone()),
            (Some(info), PullPolicy::Update) if still_fresh(&info.origin) => {
                tracing::debug!(url, "cached copy within its max-age; not asking the server");
                return Ok(info.clone());
            }
            (None, PullPolicy::Never) => {
                return Err(FetchError::NotInStoreNever {
                    image: t.image.to_string(),
                });
            }
            _ => {}
        }
        let client = self.client()?;
        let remote_err = |error| FetchError::Remote {
            image: t.image.to_string(),
            error,
        };
        let check_sig = !self.insecure.allows(Insecure::Image);
        let first_sig = check_sig.then(|| fetch_signature(&client, &t.endpoint.asc_url));
        let etag = cached.as_ref().and_then(|c| c.origin.etag.clone());
        let tmp = self.store.cas_dir().join("tmp");
        let limit = self.max_uncompressed_size;
        let progress = self.progress.clone();
        let downloaded = remote::download(&client, url, &tmp, limit, etag.as_deref(), progress)
            .map_err(|error| match error {
                remote::RemoteError::TooLarge { .. } => FetchError::TooLarge {
                    image: t.image.to_string(),
                    what: "the download",
                    limit,
                },
                error => remote_err(error),
            })?;
        let dl = match downloaded {
            Downloaded::NotModified { validators } => {
                let Some(mut info) = cached else {
                    return Err(remote_err(remote::RemoteError::Status {
                        url: url.clone(),
                        status: 304,
                    }));
                };
                tracing::debug!(url, "not modified; keeping the stored image");
                info.origin.download_time = Some(now_secs());
                info.origin.cache_max_age = validators.max_age;
                if validators.etag.is_some() {
                    info.origin.etag = validators.etag;
                }
                let _ = self.store.write_info(&info);
                return Ok(info);
            }
            Downloaded::Complete(dl) => dl,
        };
        let signature = match first_sig {
            None => None,
            Some(Ok(sig)) => Some(sig),
            // Some servers make the signature only once the image was asked for.
            Some(Err(_)) => Some(fetch_signature(&client, &t.endpoint.asc_url).map_err(
                |error| FetchError::NoRemoteSignature {
                    image: t.image.to_string(),
                    url: t.endpoint.asc_url.clone(),
                    error,
                },
            )?),
        };
        self.import_download(t, &dl, signature.as_deref())
    }

    /// Verify, stage, check and commit a finished download.
    fn import_download(
        &self,
        t: &Target<'_>,
        dl: &CompleteDownload,
        signature: Option<&[u8]>,
    ) -> Result<ImageInfo, FetchError> {
        let io = |action: &'static str| {
            let path = dl.path().to_path_buf();
            move |error| FetchError::Io {
                path,
                action,
                error,
            }
        };
        let sig_err = |error| FetchError::RemoteSignatureRefused {
            image: t.image.to_string(),
            url: t.endpoint.asc_url.clone(),
            error: Box::new(error),
        };
        let mut any_signer = None;
        if let Some(sig) = signature {
            let file = dl.file().map_err(io("rewind"))?;
            match t.expected {
                Some(app) => {
                    let signer = self
                        .keystore
                        .verify(app.name(), BufReader::new(file), sig)
                        .map_err(sig_err)?;
                    tracing::debug!(image = t.image, key = %signer.fingerprint, "signature verified");
                }
                None => {
                    any_signer = Some(
                        self.keystore
                            .verify_any(BufReader::new(file), sig)
                            .map_err(sig_err)?,
                    );
                }
            }
        }
        let file = dl.file().map_err(io("rewind"))?;
        let limit = self.max_uncompressed_size;
        let staged = self
            .store
            .stage_limited(BufReader::new(file), Some(limit))
            .map_err(|error| FetchError::staging(t.image, limit, error))?;
        if let Some(signer) = &any_signer
            && signer.covers(&staged.manifest().name).is_none()
        {
            return Err(FetchError::WrongSigner {
                file: dl.url.clone().into(),
                name: staged.manifest().name.to_string(),
                fingerprint: signer.signer.fingerprint.clone(),
                scopes: signer.scopes.clone(),
            });
        }
        if let Some(app) = t.expected {
            check_matches(t.image, app, staged.manifest())?;
        }
        self.check_room(t.image, &staged)?;
        let origin = Origin {
            aci_url: Some(t.endpoint.aci_url.clone()),
            sig_url: signature.map(|_| t.endpoint.asc_url.clone()),
            etag: dl.validators.etag.clone(),
            cache_max_age: dl.validators.max_age,
            download_time: Some(now_secs()),
        };
        staged.commit(origin).map_err(|error| FetchError::Store {
            image: t.image.to_string(),
            error,
        })
    }

    /// Fetch what `top` depends on and is not in the store, breadth-first, through discovery;
    /// a dependency on an image already on its own chain is a cycle and refused.
    fn fetch_dependencies(&self, image: &str, top: &ImageManifest) -> Result<(), FetchError> {
        let mut queue: VecDeque<(Dependency, Vec<String>)> = top
            .dependencies
            .iter()
            .map(|d| (d.clone(), vec![top.name.to_string()]))
            .collect();
        let mut fetched = 0usize;
        while let Some((dep, chain)) = queue.pop_front() {
            let name = dep.image_name.to_string();
            if chain.contains(&name) {
                return Err(FetchError::DependencyCycle {
                    image: image.to_string(),
                    chain: format!("{} -> {name}", chain.join(" -> ")),
                });
            }
            if matches!(self.store.find_dependency(&dep), Ok(Some(_))) {
                continue;
            }
            fetched += 1;
            if fetched > MAX_DEPENDENCIES {
                return Err(FetchError::TooManyDependencies {
                    image: image.to_string(),
                    limit: MAX_DEPENDENCIES,
                });
            }
            let info = self.fetch_dependency(image, &dep)?;
            let manifest = self
                .store
                .manifest(&info.key)
                .map_err(|error| FetchError::Store {
                    image: name.clone(),
                    error,
                })?;
            let mut next_chain = chain.clone();
            next_chain.push(name);
            for d in manifest.dependencies {
                queue.push_back((d, next_chain.clone()));
            }
        }
        Ok(())
    }

    fn fetch_dependency(&self, image: &str, dep: &Dependency) -> Result<ImageInfo, FetchError> {
        let mut app = AppReference::new(dep.image_name.clone());
        let described = dependency_text(dep);
        for l in dep.labels.iter() {
            app =
                app.with_label(l.name.as_str(), &l.value)
                    .map_err(|e| FetchError::Dependency {
                        image: image.to_string(),
                        dependency: format!("{described}: {e}"),
                    })?;
        }
        let info = self.discover_and_fetch(&described, &app)?;
        if let Some(id) = &dep.image_id
            && info.id != id.as_str()
        {
            return Err(FetchError::Mismatch {
                image: described,
                wanted: format!("image ID {id}"),
                got: info.id,
            });
        }
        Ok(info)
    }
}

fn dependency_text(dep: &Dependency) -> String {
    let mut s = dep.image_name.to_string();
    for l in dep.labels.iter() {
        s.push_str(&format!(",{}={}", l.name, l.value));
    }
    s
}

/// The manifest must be the image asked for: the same name, and each requested label equal
/// (`os`/`arch`, defaulted from the host, may be absent from an OS-independent image).
fn check_matches(image: &str, app: &AppReference, m: &ImageManifest) -> Result<(), FetchError> {
    let name_ok = m.name == *app.name();
    let labels_ok =
        app.labels()
            .iter()
            .all(|(k, v)| match m.labels.iter().find(|l| l.name == *k) {
                Some(l) => l.value == *v,
                None => k.as_str() == "os" || k.as_str() == "arch",
            });
    if name_ok && labels_ok {
        return Ok(());
    }
    let mut got = m.name.to_string();
    for l in m.labels.iter() {
        got.push_str(&format!(",{}={}", l.name, l.value));
    }
    Err(FetchError::Mismatch {
        image: image.to_string(),
        wanted: app.to_string(),
        got,
    })
}

/// A signature, bounded in size.
fn fetch_signature(client: &HttpClient, url: &str) -> Result<Vec<u8>, remote::RemoteError> {
    client
        .get(url, &[])?
        .read_limited(super::MAX_SIGNATURE_SIZE)
}

fn still_fresh(origin: &Origin) -> bool {
    match (origin.download_time, origin.cache_max_age) {
        (Some(at), Some(age)) => now_secs() < at.saturating_add(age),
        _ => false,
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
