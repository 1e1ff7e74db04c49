//! HTTP(S) for stage0: one blocking GET with rkt's transport rules (rkt.md §4, security.md T6).
//!
//! - HTTPS with certificate verification is the default; the trusted CAs are the system's
//!   (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace them; see `tls.rs`). `allow_http`
//!   (`--insecure-options=http`) permits plain HTTP and `skip_tls_verify` (`tls`) accepts any
//!   certificate; neither implies the other.
//! - Redirects are followed here, not by the HTTP library, so every hop is checked against
//!   these rules and gets only the credentials of its own host (auth.d).
//! - Proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (and lowercase), minus `NO_PROXY`.
//! - A server that sends nothing for `RKT_HTTP_TIMEOUT` seconds (default 60) ends the request.
//! - Credentials never appear in an error or a log line: errors carry URLs and statuses only.

mod auth;
mod discover;
mod download;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

pub use auth::{AuthError, Credentials};
pub use discover::{Discovered, DiscoveryAttempt, discover};
pub use download::{CompleteDownload, Downloaded, Validators, download, remove_stale};

use crate::config::AuthConfig;

/// Largest discovery page read; real ones are a few KiB.
pub const MAX_DISCOVERY_PAGE: u64 = 1 << 20;
/// Largest public key file fetched.
pub const MAX_KEY_SIZE: u64 = 1 << 20;
/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 10;

/// Why a request failed. Messages name the URL and, where one exists, the option that would
/// allow it; never a header value.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "{url}: plain HTTP is refused; use an https:// URL, or allow HTTP with \
         --insecure-options=http"
    )]
    HttpRefused { url: String },
    #[error("{url}: not an http:// or https:// URL")]
    BadUrl { url: String },
    #[error(
        "{url}: TLS certificate not accepted: {reason} (a private CA can be given with SSL_CERT_FILE; --insecure-options=tls skips the check)"
    )]
    Certificate { url: String, reason: String },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: server answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects { url: String },
    #[error("{url}: redirect without a usable Location")]
    BadRedirect { url: String },
    #[error("{url}: body larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error(
        "{url}: connection ended after {got} of {expected} bytes; run the command again to resume"
    )]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error("{url}: the server stalled: no data for {secs} seconds")]
    Stalled { url: String, secs: u64 },
    #[error("{url}: reading the body: {error}")]
    Read { url: String, error: std::io::Error },
    #[error("{url}: server sent a range that does not continue the partial download ({reason})")]
    BadRange { url: String, reason: String },
    #[error("{path}: cannot {action}: {error}")]
    Io {
        path: PathBuf,
        action: &'static str,
        error: std::io::Error,
    },
    #[error(
        "{url}: another rkt is downloading it right now ({path} is locked); try again when it is done"
    )]
    Busy { url: String, path: PathBuf },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{name}: discovery found no {what}; tried: {}", tried_text(.tried))]
    Discovery {
        name: String,
        what: &'static str,
        tried: Vec<DiscoveryAttempt>,
    },
}

fn tried_text(tried: &[DiscoveryAttempt]) -> String {
    let v: Vec<String> = tried
        .iter()
        .map(|t| format!("{} ({})", t.url, t.outcome))
        .collect();
    v.join("; ")
}

/// How to reach remotes: the transport relaxations in force, per-domain credentials, timeouts.
#[derive(Clone)]
pub struct HttpClient {
    pub allow_http: bool,
    pub skip_tls_verify: bool,
    credentials: BTreeMap<String, Credentials>,
    pub connect_timeout: Duration,
    /// Longest wait for any single read: a stalled server ends the request.
    pub read_timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    // Hand-written so that credentials cannot leak through a `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("allow_http", &self.allow_http)
            .field("skip_tls_verify", &self.skip_tls_verify)
            .field("auth_domains", &self.credentials.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A response with a status of 2xx or 304, and the URL it finally came from.
pub struct Response {
    pub url: String,
    pub status: u16,
    inner: ureq::Response,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.header(name)
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    pub fn into_reader(self) -> Box<dyn Read + Send + Sync> {
        self.inner.into_reader()
    }

    /// The whole body, refused when larger than `limit`.
    pub fn read_limited(self, limit: u64) -> Result<Vec<u8>, RemoteError> {
        let url = self.url.clone();
        if self.content_length().is_some_and(|n| n > limit) {
            return Err(RemoteError::TooLarge { url, limit });
        }
        let mut out = Vec::new();
        self.into_reader()
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|error| read_error(&url, error))?;
        if out.len() as u64 > limit {
            return Err(RemoteError::TooLarge { url, limit });
        }
        Ok(out)
    }
}

fn read_error(url: &str, error: std::io::Error) -> RemoteError {
    RemoteError::Read {
        url: url.to_string(),
        error,
    }
}

impl HttpClient {
    /// A client with the auth.d entries (domain → config), checked now so a bad entry is
    /// reported before any request.
    pub fn new(auth: &BTreeMap<String, AuthConfig>) -> Result<HttpClient, RemoteError> {
        let mut credentials = BTreeMap::new();
        for (domain, config) in auth {
            credentials.insert(domain.clone(), Credentials::from_config(domain, config)?);
        }
        Ok(HttpClient {
            allow_http: false,
            skip_tls_verify: false,
            credentials,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(read_timeout_secs()),
        })
    }

    /// GET `url` with `headers`, following redirects. 2xx and 304 are answers; anything else
    /// is [`RemoteError::Status`].
    pub fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Response, RemoteError> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let parsed = self.check_url(&current)?;
            tracing::debug!(url = %current, "GET");
            let mut req = self.agent(&parsed).request_url("GET", &parsed);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(value) = self.auth_for(&parsed) {
                req = req.set("Authorization", &value);
            }
            let resp = match req.call() {
                Ok(r) => r,
                Err(ureq::Error::Status(status, _)) => {
                    return Err(RemoteError::Status {
                        url: current,
                        status,
                    });
                }
                Err(ureq::Error::Transport(t)) => return Err(transport_error(&current, &t)),
            };
            let status = resp.status();
            if (300..400).contains(&status) && status != 304 {
                let next = resp
                    .header("location")
                    .and_then(|l| parsed.join(l).ok())
                    .ok_or_else(|| RemoteError::BadRedirect {
                        url: current.clone(),
                    })?;
                tracing::debug!(from = %current, to = %next, "redirect");
                current = next.to_string();
                continue;
            }
            return Ok(Response {
                url: current,
                status,
                inner: resp,
            });
        }
        Err(RemoteError::TooManyRedirects {
            url: url.to_string(),
        })
    }

    fn check_url(&self, url: &str) -> Result<url::Url, RemoteError> {
        let parsed = url::Url::parse(url).map_err(|_| RemoteError::BadUrl {
            url: url.to_string(),
        })?;
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if self.allow_http => Ok(parsed),
            "http" => Err(RemoteError::HttpRefused {
                url: url.to_string(),
            }),
            _ => Err(RemoteError::BadUrl {
                url: url.to_string(),
            }),
        }
    }

    /// The Authorization value for this URL's host, matched as `host:port` or `host`.
    fn auth_for(&self, url: &url::Url) -> Option<String> {
        let host = url.host_str()?;
        let with_port = url.port().map(|p| format!("{host}:{p}"));
        with_port
            .and_then(|hp| self.credentials.get(&hp))
            .or_else(|| self.credentials.get(host))
            .map(Credentials::header_value)
    }

    fn agent(&self, url: &url::Url) -> ureq::Agent {
        let mut builder = ureq::AgentBuilder::new()
            .tls_connector(crate::tls::connector(self.skip_tls_verify))
            .redirects(0)
            .timeout_connect(self.connect_timeout)
            .timeout_read(self.read_timeout)
            .user_agent(concat!("rkt-rs/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = proxy_for(url) {
            builder = builder.proxy(proxy);
        }
        builder.build()
    }
}

/// Seconds without data before a request is given up: `RKT_HTTP_TIMEOUT`, else 60.
fn read_timeout_secs() -> u64 {
    std::env::var("RKT_HTTP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(60)
}

fn transport_error(url: &str, t: &ureq::Transport) -> RemoteError {
    if let Some(e) = crate::tls::certificate_error(t) {
        // rustls names the problem, e.g. "invalid peer certificate: UnknownIssuer".
        return RemoteError::Certificate {
            url: url.to_string(),
            reason: e.to_string(),
        };
    }
    // Not `t.to_string()`: it repeats the URL, which the error prints already.
    let mut parts = vec![t.kind().to_string()];
    parts.extend(t.message().map(str::to_string));
    if let Some(source) = std::error::Error::source(t) {
        parts.push(source.to_string());
    }
    RemoteError::Transport {
        url: url.to_string(),
        reason: parts.join(": "),
    }
}

/// The proxy the environment names for this URL's scheme, unless `NO_PROXY` covers its host.
fn proxy_for(url: &url::Url) -> Option<ureq::Proxy> {
    let host = url.host_str()?;
    let no_proxy = env_any(&["NO_PROXY", "no_proxy"]).unwrap_or_default();
    if no_proxy_covers(&no_proxy, host) {
        return None;
    }
    let names: &[&str] = if url.scheme() == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    ureq::Proxy::new(env_any(names)?).ok()
}

fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

/// `NO_PROXY` rules: `*`, exact hosts, and domain suffixes (`.a.com` or `a.com` covers `x.a.com`).
fn no_proxy_covers(list: &str, host: &str) -> bool {
    list.split(',').map(str::trim).any(|entry| {
        let entry = entry.split(':').next().unwrap_or(entry);
        let bare = entry.trim_start_matches('.');
        entry == "*" || (!bare.is_empty() && (host == bare || host.ends_with(&format!(".{bare}"))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matches_hosts_and_suffixes() {
        assert!(no_proxy_covers("localhost, .a.com", "x.a.com"));
        assert!(no_proxy_covers("a.com", "a.com"));
        assert!(no_proxy_covers("a.com", "b.a.com"));
        assert!(!no_proxy_covers("a.com", "ba.com"));
        assert!(no_proxy_covers("*", "anything"));
        assert!(!no_proxy_covers("", "a.com"));
    }

    #[test]
    fn plain_http_needs_the_option() {
        let mut c = HttpClient::new(&BTreeMap::new()).unwrap();
        assert!(matches!(
            c.check_url("http://a.com/x"),
            Err(RemoteError::HttpRefused { .. })
        ));
        c.allow_http = true;
        assert!(c.check_url("http://a.com/x").is_ok());
        assert!(matches!(
            c.check_url("ftp://a.com/x"),
            Err(RemoteError::BadUrl { .. })
        ));
    }
}
