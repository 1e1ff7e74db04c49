//! A blocking Docker Registry HTTP API v2 client: manifests (image indexes and Docker
//! manifest lists resolved to linux/amd64), configs and layer blobs, each checked against its
//! digest. Authentication as registries ask for it (`WWW-Authenticate`): `Basic` with the
//! `dockerAuth` credentials of auth.d, or `Bearer` tokens from the named realm (anonymous, or
//! with those credentials).
//!
//! HTTPS only, unless `--insecure-options=http` (then plain HTTP is tried when HTTPS fails);
//! `--insecure-options=tls` skips certificate checks. The trusted CAs are the system's, or
//! those of `SSL_CERT_FILE` / `SSL_CERT_DIR` (`tls.rs`).

use std::io::Read;
use std::time::Duration;

use base64::Engine;
use oci_spec::image::{ImageIndex, ImageManifest};

use super::convert::{Naming, ac_identifier};
use super::local::{choose_platform, layer_refs, verify};
use super::reference::DockerRef;
use super::{BlobSource, LayerRef, OciError, Pulled};
use crate::fetch::Fetcher;
use crate::insecure::Insecure;

const MAX_JSON: u64 = 8 << 20;
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

pub struct Client {
    agent: ureq::Agent,
    r: DockerRef,
    base: String,
    creds: Option<(String, String)>,
    /// The `Authorization` header value once the registry asked for one.
    auth: Option<String>,
}

impl Client {
    pub fn new(fetcher: &Fetcher, r: &DockerRef) -> Result<Client, OciError> {
        let agent = ureq::AgentBuilder::new()
            .tls_connector(crate::tls::connector(
                fetcher.insecure.allows(Insecure::Tls),
            ))
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(300))
            .build();
        let creds = fetcher.docker_auth.get(&r.registry).and_then(|a| {
            Some((
                a.credentials.get("user")?.clone(),
                a.credentials.get("password")?.clone(),
            ))
        });
        let mut c = Client {
            agent,
            r: r.clone(),
            base: format!("https://{}", r.registry),
            creds,
            auth: None,
        };
        c.choose_scheme(fetcher.insecure.allows(Insecure::Http))?;
        Ok(c)
    }

    fn err(&self, problem: String) -> OciError {
        OciError::Registry {
            registry: self.r.registry.clone(),
            problem,
        }
    }

    /// Probe `/v2/` over HTTPS, falling back to HTTP only when allowed.
    fn choose_scheme(&mut self, http_ok: bool) -> Result<(), OciError> {
        let probe = |base: &str| match self.agent.get(&format!("{base}/v2/")).call() {
            Ok(_) | Err(ureq::Error::Status(..)) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        match probe(&self.base) {
            Ok(()) => Ok(()),
            Err(e) if http_ok => {
                let http = format!("http://{}", self.r.registry);
                probe(&http).map_err(|e2| {
                    self.err(format!("unreachable over HTTPS ({e}) and HTTP ({e2})"))
                })?;
                tracing::warn!(registry = %self.r.registry, "using plain HTTP (--insecure-options=http)");
                self.base = http;
                Ok(())
            }
            Err(e) => Err(self.err(format!(
                "cannot reach it over HTTPS: {e} (a registry serving plain HTTP needs \
                 --insecure-options=http)"
            ))),
        }
    }

    /// GET `path` under `/v2/<repo>/`, authenticating once when challenged.
    fn get(&mut self, path: &str, accept: &str) -> Result<ureq::Response, OciError> {
        let url = format!("{}/v2/{}/{path}", self.base, self.r.repository);
        for attempt in 0..2 {
            let mut req = self.agent.get(&url).set("Accept", accept);
            if let Some(a) = &self.auth {
                req = req.set("Authorization", a);
            }
            match req.call() {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(401, resp)) if attempt == 0 => {
                    let challenge = resp.header("www-authenticate").unwrap_or("").to_string();
                    self.authenticate(&challenge)?;
                }
                Err(ureq::Error::Status(s @ (401 | 403), _)) => {
                    return Err(OciError::Auth {
                        registry: self.r.registry.clone(),
                        repository: self.r.repository.clone(),
                        status: s,
                    });
                }
                Err(ureq::Error::Status(404, _)) => {
                    return Err(self.err(format!("{}/{path}: not found", self.r.repository)));
                }
                Err(e) => return Err(self.err(format!("GET {url}: {e}"))),
            }
        }
        Err(OciError::Auth {
            registry: self.r.registry.clone(),
            repository: self.r.repository.clone(),
            status: 401,
        })
    }

    fn basic(&self) -> Option<String> {
        self.creds.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
    }

    fn authenticate(&mut self, challenge: &str) -> Result<(), OciError> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            self.auth = self.basic();
            if self.auth.is_none() {
                return Err(OciError::Auth {
                    registry: self.r.registry.clone(),
                    repository: self.r.repository.clone(),
                    status: 401,
                });
            }
            return Ok(());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(self.err(format!("unsupported authentication scheme {scheme:?}")));
        }
        let param = |name: &str| challenge_param(params, name);
        let realm =
            param("realm").ok_or_else(|| self.err("bearer challenge without realm".into()))?;
        let mut req = self.agent.get(&realm);
        if let Some(s) = param("service") {
            req = req.query("service", &s);
        }
        let scope =
            param("scope").unwrap_or_else(|| format!("repository:{}:pull", self.r.repository));
        req = req.query("scope", &scope);
        if let Some(b) = self.basic() {
            req = req.set("Authorization", &b);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(s @ (401 | 403), _)) => {
                return Err(OciError::Auth {
                    registry: self.r.registry.clone(),
                    repository: self.r.repository.clone(),
                    status: s,
                });
            }
            Err(e) => return Err(self.err(format!("token from {realm}: {e}"))),
        };
        let body: serde_json::Value = serde_json::from_reader(resp.into_reader().take(MAX_JSON))
            .map_err(|e| self.err(format!("token response: {e}")))?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| self.err("token response without a token".into()))?;
        self.auth = Some(format!("Bearer {token}"));
        Ok(())
    }

    fn get_json(
        &mut self,
        path: &str,
        accept: &str,
        digest: Option<&str>,
    ) -> Result<(Vec<u8>, String), OciError> {
        let resp = self.get(path, accept)?;
        let media = resp.content_type().to_string();
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_JSON + 1)
            .read_to_end(&mut body)
            .map_err(|e| self.err(format!("{path}: {e}")))?;
        if body.len() as u64 > MAX_JSON {
            return Err(self.err(format!("{path}: larger than {MAX_JSON} bytes")));
        }
        if let Some(d) = digest {
            verify(&body, d, &format!("{} {path}", self.r))?;
        }
        Ok((body, media))
    }

    /// Resolve the reference to a config and layers.
    pub fn pull(&mut self) -> Result<Pulled, OciError> {
        let reference = self.r.reference().to_string();
        let pinned = self.r.digest.clone();
        let (mut body, mut media) =
            self.get_json(&format!("manifests/{reference}"), ACCEPT, pinned.as_deref())?;
        for _ in 0..2 {
            let is_index = media.contains("index")
                || media.contains("manifest.list")
                || serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("manifests").cloned())
                    .is_some();
            if !is_index {
                break;
            }
            let index: ImageIndex =
                serde_json::from_slice(&body).map_err(|e| self.err(format!("image index: {e}")))?;
            let d = choose_platform(index.manifests(), &self.r.to_string())?
                .digest()
                .to_string();
            (body, media) = self.get_json(&format!("manifests/{d}"), ACCEPT, Some(&d))?;
        }
        let manifest: ImageManifest =
            serde_json::from_slice(&body).map_err(|e| self.err(format!("image manifest: {e}")))?;
        let cfg_digest = manifest.config().digest().to_string();
        let (config, _) =
            self.get_json(&format!("blobs/{cfg_digest}"), "*/*", Some(&cfg_digest))?;
        let naming = Naming {
            name: ac_identifier(&format!("{}/{}", self.r.registry, self.r.repository)),
            version: self.r.tag.clone(),
            registry: Some(self.r.registry.clone()),
            repository: Some(self.r.repository.clone()),
            config_digest: cfg_digest,
        };
        Ok(Pulled {
            layers: layer_refs(&manifest, &config)?,
            config,
            naming,
            origin: format!("docker://{}", self.r),
        })
    }
}

impl BlobSource for Client {
    fn open_layer(&mut self, layer: &LayerRef) -> Result<Box<dyn Read + '_>, OciError> {
        let resp = self.get(&format!("blobs/{}", layer.locator), "*/*")?;
        Ok(Box::new(resp.into_reader()))
    }
}

/// A parameter of a `WWW-Authenticate` challenge: `name="value"` (or unquoted).
fn challenge_param(params: &str, name: &str) -> Option<String> {
    let mut rest = params;
    while !rest.is_empty() {
        rest = rest.trim_start_matches([' ', ',']);
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if key.trim().eq_ignore_ascii_case(name) {
            return Some(value.to_string());
        }
        rest = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::challenge_param;

    #[test]
    fn parses_bearer_challenges() {
        let c = r#"realm="https://auth.example/token",service="reg",scope="repository:a/b:pull""#;
        assert_eq!(
            challenge_param(c, "realm").as_deref(),
            Some("https://auth.example/token")
        );
        assert_eq!(challenge_param(c, "service").as_deref(), Some("reg"));
        assert_eq!(
            challenge_param(c, "scope").as_deref(),
            Some("repository:a/b:pull")
        );
        assert_eq!(challenge_param("realm=x, b=y", "b").as_deref(), Some("y"));
        assert_eq!(challenge_param(c, "nope"), None);
    }
}
