//! appc meta discovery over HTTP(S) (appc.md): GET `https://{prefix}?ac-discovery=1` for the
//! name and each parent prefix, longest first, until a page offers what is wanted. A transport
//! error, a 4xx/5xx or a page without usable tags moves on to the next prefix; every attempt is
//! logged at debug level and listed in the final error.

use aci::discovery::{AppReference, Endpoints, endpoints, parse_meta_tags};

use super::{HttpClient, MAX_DISCOVERY_PAGE, RemoteError};

/// One discovery URL tried and what came of it.
#[derive(Debug, Clone)]
pub struct DiscoveryAttempt {
    pub url: String,
    pub outcome: String,
}

/// What discovery found, and on which page.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub endpoints: Endpoints,
    pub page: String,
    /// True when the page came over HTTPS (keys found there may be trusted automatically).
    pub https: bool,
}

/// Discover `app` (labels already defaulted). `want_keys` asks for `ac-discovery-pubkeys`
/// instead of image endpoints.
pub fn discover(
    client: &HttpClient,
    app: &AppReference,
    want_keys: bool,
) -> Result<Discovered, RemoteError> {
    let mut tried = Vec::new();
    for url in aci::discovery::discovery_urls(app.name(), client.allow_http) {
        let outcome = match page(client, &url) {
            Ok((html, final_url)) => {
                let found = endpoints(&parse_meta_tags(&html), app);
                let usable = if want_keys {
                    !found.keys.is_empty()
                } else {
                    !found.aci.is_empty()
                };
                if usable {
                    tracing::debug!(%url, "discovery page found");
                    return Ok(Discovered {
                        endpoints: found,
                        https: final_url.starts_with("https://"),
                        page: final_url,
                    });
                }
                "no matching ac-discovery tags".to_string()
            }
            Err(e) => {
                let text = e.to_string();
                let prefix = format!("{url}: ");
                text.strip_prefix(&prefix)
                    .map_or(text.clone(), str::to_string)
            }
        };
        tracing::debug!(%url, %outcome, "discovery: trying the next prefix");
        tried.push(DiscoveryAttempt { url, outcome });
    }
    Err(RemoteError::Discovery {
        name: app.to_string(),
        what: if want_keys {
            "public keys (ac-discovery-pubkeys)"
        } else {
            "image (ac-discovery)"
        },
        tried,
    })
}

fn page(client: &HttpClient, url: &str) -> Result<(String, String), RemoteError> {
    let resp = client.get(url, &[])?;
    let final_url = resp.url.clone();
    let body = resp.read_limited(MAX_DISCOVERY_PAGE)?;
    Ok((String::from_utf8_lossy(&body).into_owned(), final_url))
}
