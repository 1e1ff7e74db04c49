//! `rkt trust` over HTTPS: keys from URLs and from discovery (`ac-discovery-pubkeys`).

mod remote_support;
mod support;

use std::sync::Arc;

use remote_support::{Ca, NetNs, Server, Site, rkt_in};
use support::{Gpg, TestEnv};

fn keyfiles(env: &TestEnv, prefix: &str) -> Vec<String> {
    let dir = env.local_config().join("trustedkeys/prefix.d").join(prefix);
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn trust_by_discovery_and_by_url_over_https() {
    let env = TestEnv::new();
    let ca = Ca::new();
    let ns = NetNs::new(&["example.com"]);
    let site = Arc::new(Site::default());
    let _server = Server::start(
        &ns,
        443,
        Some(ca.server_identity(&["example.com"])),
        site.clone(),
    );
    let gpg = Gpg::new();
    let fp = gpg.new_key("Publisher <p@example.com>");
    let key = env.work().join("pub.gpg");
    gpg.export_to(&fp, &key);
    site.put("example.com/keys/pub.gpg", std::fs::read(&key).unwrap());
    site.put(
        "example.com/app?ac-discovery=1",
        Site::discovery_page(&[(
            "ac-discovery-pubkeys",
            "example.com/app",
            "https://example.com/keys/pub.gpg",
        )]),
    );
    // Without a terminal and without an automatic rule, the review cannot happen.
    let out = rkt_in(&ns, &env, Some(&ca), &["trust", "--prefix=example.com/app"]);
    assert!(
        out.failed().contains("--skip-fingerprint-review"),
        "{out:#?}"
    );
    assert!(keyfiles(&env, "example.com/app").is_empty());
    // --trust-keys-from-https trusts what came over HTTPS and says so with the fingerprint.
    let out = rkt_in(
        &ns,
        &env,
        Some(&ca),
        &[
            "--trust-keys-from-https",
            "trust",
            "--prefix=example.com/app",
        ],
    );
    out.ok();
    assert!(out.stderr.contains("without review"), "{out:#?}");
    assert_eq!(keyfiles(&env, "example.com/app"), vec![fp.clone()]);
    // A key URL directly, for another prefix.
    let out = rkt_in(
        &ns,
        &env,
        Some(&ca),
        &[
            "trust",
            "--prefix=example.com/other",
            "--skip-fingerprint-review",
            "https://example.com/keys/pub.gpg",
        ],
    );
    out.ok();
    assert_eq!(keyfiles(&env, "example.com/other"), vec![fp.clone()]);
    // Plain HTTP is refused for keys.
    let out = rkt_in(
        &ns,
        &env,
        Some(&ca),
        &[
            "trust",
            "--prefix=example.com/x",
            "--skip-fingerprint-review",
            "http://example.com/keys/pub.gpg",
        ],
    );
    assert!(out.failed().contains("insecure"), "{out:#?}");
}

#[test]
fn fetch_with_trust_keys_from_https_trusts_the_discovered_key() {
    let env = TestEnv::new();
    let ca = Ca::new();
    let ns = NetNs::new(&["example.com"]);
    let site = Arc::new(Site::default());
    let _server = Server::start(
        &ns,
        443,
        Some(ca.server_identity(&["example.com"])),
        site.clone(),
    );
    let gpg = Gpg::new();
    let fp = gpg.new_key("Publisher <p@example.com>");
    let key = env.work().join("pub.gpg");
    gpg.export_to(&fp, &key);
    let file = env.work().join("app.aci");
    let built = support::Image::new("example.com/app").write(&file);
    gpg.sign_to(&fp, &file, &support::asc_of(&file));
    site.put("example.com/keys/pub.gpg", std::fs::read(&key).unwrap());
    site.put("example.com/app.aci", std::fs::read(&file).unwrap());
    site.put(
        "example.com/app.aci.asc",
        std::fs::read(support::asc_of(&file)).unwrap(),
    );
    site.put(
        "example.com/app?ac-discovery=1",
        Site::discovery_page(&[
            (
                "ac-discovery",
                "example.com/app",
                "https://example.com/app.{ext}",
            ),
            (
                "ac-discovery-pubkeys",
                "example.com/app",
                "https://example.com/keys/pub.gpg",
            ),
        ]),
    );
    let err = rkt_in(&ns, &env, Some(&ca), &["fetch", "example.com/app"]);
    assert!(err.failed().contains("no trusted key"), "{err:#?}");
    let out = rkt_in(
        &ns,
        &env,
        Some(&ca),
        &["--trust-keys-from-https", "fetch", "example.com/app"],
    );
    assert_eq!(out.ok().trim(), built.short_id(), "{out:#?}");
    assert_eq!(keyfiles(&env, "example.com/app"), vec![fp]);
}
