//! `rkt fetch` from HTTPS servers run by the test: names resolve through a network namespace's
//! own hosts file, certificates come from a CA made here (`SSL_CERT_FILE`). No internet.

mod remote_support;
mod support;

use std::sync::Arc;

use remote_support::{Ca, NetNs, Server, Site, rkt_in, rkt_in_pty, self_signed_identity};
use support::{Gpg, Image, TestEnv, asc_of};

const HOSTS: &[&str] = &["example.com", "other.org", "example.community"];

struct World {
    env: TestEnv,
    ca: Ca,
    site: Arc<Site>,
    gpg: Gpg,
    fp: String,
    _server: Server,
    ns: NetNs,
}

impl World {
    /// An HTTPS server for HOSTS on :443 and a key trusted for `trusted_prefix`.
    fn new(trusted_prefix: &str) -> World {
        let env = TestEnv::new();
        let ca = Ca::new();
        let ns = NetNs::new(HOSTS);
        let site = Arc::new(Site::default());
        let server = Server::start(&ns, 443, Some(ca.server_identity(HOSTS)), site.clone());
        let gpg = Gpg::new();
        let fp = gpg.new_key("Test Publisher <pub@example.com>");
        env.trust(&gpg, &fp, Some(trusted_prefix));
        World {
            env,
            ca,
            site,
            gpg,
            fp,
            _server: server,
            ns,
        }
    }

    /// Build, sign and publish `image` at `host_path` (signature at `host_path.asc`).
    fn publish(&self, image: &Image, host_path: &str) -> support::Built {
        let file = self
            .env
            .work()
            .join(format!("{}.aci", image.name.replace('/', "_")));
        let built = image.write(&file);
        self.gpg.sign_to(&self.fp, &file, &asc_of(&file));
        self.site.put(host_path, std::fs::read(&file).unwrap());
        self.site.put(
            &format!("{host_path}.asc"),
            std::fs::read(asc_of(&file)).unwrap(),
        );
        built
    }

    fn rkt(&self, args: &[&str]) -> support::Run {
        rkt_in(&self.ns, &self.env, Some(&self.ca), args)
    }

    fn discovery(&self, host_path: &str, prefix: &str, template: &str) {
        self.site.put(
            &format!("{host_path}?ac-discovery=1"),
            Site::discovery_page(&[("ac-discovery", prefix, template)]),
        );
    }
}

#[test]
fn https_url_with_a_verified_signature() {
    let w = World::new("example.com/app");
    let built = w.publish(&Image::new("example.com/app"), "example.com/images/app.aci");
    let out = w.rkt(&["fetch", "https://example.com/images/app.aci"]);
    assert_eq!(out.ok().trim(), built.short_id(), "{out:#?}");
    assert_eq!(w.env.blobs(), vec![built.key()]);
    // The signature was asked for before the image.
    let order: Vec<String> = w
        .site
        .all_requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(order, ["/images/app.aci.asc", "/images/app.aci"]);
}

#[test]
fn bad_signature_is_refused_and_the_store_stays_empty() {
    let w = World::new("example.com/app");
    w.publish(&Image::new("example.com/app"), "example.com/app.aci");
    // Another image under the same signature.
    let other = Image::new("example.com/app").file("x", b"tampered").tar();
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        e.write_all(&other).unwrap();
        e.finish().unwrap();
    }
    w.site.put("example.com/app.aci", gz);
    let err = w
        .rkt(&["fetch", "https://example.com/app.aci"])
        .failed()
        .to_string();
    assert!(
        err.contains("signature") && err.contains("app.aci.asc"),
        "{err}"
    );
    assert!(w.env.blobs().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(w.env.data_dir().join("cas/tmp/downloads"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "download left behind: {leftovers:?}");
}

#[test]
fn signature_made_on_demand_is_retried_after_the_image() {
    let w = World::new("example.com/app");
    let built = w.publish(&Image::new("example.com/app"), "example.com/app.aci");
    w.site.missing_once("example.com/app.aci.asc");
    let out = w.rkt(&["fetch", "https://example.com/app.aci"]);
    assert_eq!(out.ok().trim(), built.short_id());
    assert_eq!(w.site.requests("example.com/app.aci.asc").len(), 2);
}

#[test]
fn discovery_with_templates_labels_and_latest() {
    let w = World::new("example.com/app");
    let (os, arch) = ("linux", "amd64");
    let img = Image::new("example.com/app")
        .label("version", "1.0")
        .label("os", os)
        .label("arch", arch);
    let built = w.publish(
        &img,
        &format!("other.org/d/example.com/app-1.0-{os}-{arch}.aci"),
    );
    w.discovery(
        "example.com/app",
        "example.com/app",
        "https://other.org/d/{name}-{version}-{os}-{arch}.{ext}",
    );
    let out = w.rkt(&["fetch", "example.com/app:1.0"]);
    assert_eq!(out.ok().trim(), built.short_id(), "{out:#?}");
    // No version asks for "latest".
    let latest = w.rkt(&["fetch", "--debug", "example.com/app"]);
    let err = latest.failed();
    assert!(
        w.site
            .requests(&format!(
                "other.org/d/example.com/app-latest-{os}-{arch}.aci.asc"
            ))
            .len()
            == 1,
        "{err}"
    );
}

#[test]
fn discovery_walks_up_the_prefixes() {
    let w = World::new("example.com/group");
    let img = Image::new("example.com/group/sub/app").label("version", "2");
    let built = w.publish(&img, "example.com/pool/app-2.aci");
    // Only the top prefix has a page; the longer ones 404 or lack matching tags.
    w.discovery(
        "example.com/group/sub",
        "example.com/elsewhere",
        "https://x/{name}.{ext}",
    );
    w.discovery(
        "example.com/",
        "example.com/group",
        "https://example.com/pool/app-{version}.{ext}",
    );
    let out = w.rkt(&["fetch", "--debug", "example.com/group/sub/app:2"]);
    assert_eq!(out.ok().trim(), built.short_id(), "{out:#?}");
    let tried: Vec<String> = w
        .site
        .all_requests()
        .iter()
        .filter(|r| r.path.ends_with("?ac-discovery=1"))
        .map(|r| format!("{}{}", r.host, r.path))
        .collect();
    assert_eq!(
        tried,
        [
            "example.com/group/sub/app?ac-discovery=1",
            "example.com/group/sub?ac-discovery=1",
            "example.com/group?ac-discovery=1",
            "example.com/?ac-discovery=1",
        ]
    );
    assert!(
        out.stderr.contains("example.com/group/sub?ac-discovery=1"),
        "{}",
        out.stderr
    );
}

#[test]
fn look_alike_prefix_key_and_wrong_image_are_refused() {
    // The key is trusted for example.com/app, not for example.com/apple.
    let w = World::new("example.com/app");
    w.publish(&Image::new("example.com/apple"), "example.com/apple.aci");
    w.discovery(
        "example.com/apple",
        "example.com/apple",
        "https://example.com/apple.{ext}",
    );
    let err = w.rkt(&["fetch", "example.com/apple"]).failed().to_string();
    assert!(
        err.contains("not trusted") || err.contains("no trusted key"),
        "{err}"
    );
    // A server answering example.com/app with another image (signed by a covering key).
    let w2 = World::new("example.com");
    w2.publish(&Image::new("example.com/evil"), "example.com/app.aci");
    w2.discovery(
        "example.com/app",
        "example.com/app",
        "https://example.com/app.{ext}",
    );
    let err = w2.rkt(&["fetch", "example.com/app"]).failed().to_string();
    assert!(err.contains("not what was asked"), "{err}");
    assert!(w.env.blobs().is_empty() && w2.env.blobs().is_empty());
}

#[test]
fn plain_http_only_with_insecure_http() {
    let w = World::new("example.com/app");
    let _http = Server::start(&w.ns, 80, None, w.site.clone());
    let built = w.publish(&Image::new("example.com/app"), "example.com/app.aci");
    let err = w
        .rkt(&["fetch", "http://example.com/app.aci"])
        .failed()
        .to_string();
    assert!(err.contains("--insecure-options=http"), "{err}");
    assert!(w.site.all_requests().is_empty());
    // `http` relaxes the transport only: the signature is still checked.
    let out = w.rkt(&[
        "--insecure-options=http",
        "fetch",
        "http://example.com/app.aci",
    ]);
    assert_eq!(out.ok().trim(), built.short_id());
    assert!(w.site.all_requests().iter().all(|r| !r.tls));
}

#[test]
fn untrusted_certificate_only_with_insecure_tls() {
    let env = TestEnv::new();
    let ca = Ca::new();
    let ns = NetNs::new(HOSTS);
    let site = Arc::new(Site::default());
    let _server = Server::start(&ns, 443, Some(self_signed_identity(HOSTS)), site.clone());
    let img = Image::new("example.com/app");
    let file = env.work().join("app.aci");
    let built = img.write(&file);
    site.put("example.com/app.aci", std::fs::read(&file).unwrap());
    let err = rkt_in(
        &ns,
        &env,
        Some(&ca),
        &[
            "--insecure-options=image",
            "fetch",
            "https://example.com/app.aci",
        ],
    );
    let err = err.failed();
    assert!(
        err.contains("certificate") && err.contains("--insecure-options=tls"),
        "{err}"
    );
    // `tls` alone does not waive the signature.
    let err = rkt_in(
        &ns,
        &env,
        Some(&ca),
        &[
            "--insecure-options=tls",
            "fetch",
            "https://example.com/app.aci",
        ],
    );
    assert!(err.failed().contains("signature"));
    let ok = rkt_in(
        &ns,
        &env,
        Some(&ca),
        &[
            "--insecure-options=tls,image",
            "fetch",
            "https://example.com/app.aci",
        ],
    );
    assert_eq!(ok.ok().trim(), built.short_id());
}

#[test]
fn auth_headers_go_only_to_their_domain_and_are_never_printed() {
    let w = World::new("example.com/app");
    let auth = w.env.local_config().join("auth.d");
    std::fs::create_dir_all(&auth).unwrap();
    std::fs::write(
        auth.join("a.json"),
        r#"{"rktKind":"auth","rktVersion":"v1","domains":["example.com"],"type":"oauth","credentials":{"token":"s3cr3t-t0ken"}}"#,
    )
    .unwrap();
    // The page is on example.com; the image and signature on other.org.
    let built = w.publish(&Image::new("example.com/app"), "other.org/app.aci");
    w.discovery(
        "example.com/app",
        "example.com/app",
        "https://other.org/app.{ext}",
    );
    let out = w.rkt(&["--debug", "fetch", "example.com/app"]);
    assert_eq!(out.ok().trim(), built.short_id(), "{out:#?}");
    for r in w.site.all_requests() {
        let auth = r.header("authorization");
        if r.host == "example.com" {
            assert_eq!(auth, Some("Bearer s3cr3t-t0ken"));
        } else {
            assert_eq!(auth, None, "credentials leaked to {}", r.host);
        }
    }
    assert!(!out.stderr.contains("s3cr3t") && !out.stdout.contains("s3cr3t"));
    // A failure does not print them either.
    let err = w.rkt(&["--debug", "fetch", "example.com/nothing"]);
    assert!(!err.failed().contains("s3cr3t"));
}

#[test]
fn etag_revalidation_and_max_age() {
    let w = World::new("example.com/app");
    let built = w.publish(&Image::new("example.com/app"), "example.com/app.aci");
    w.rkt(&["fetch", "https://example.com/app.aci"]).ok();
    let again = w.rkt(&["fetch", "https://example.com/app.aci"]);
    assert_eq!(again.ok().trim(), built.short_id());
    let gets = w.site.requests("example.com/app.aci");
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].header("if-none-match"), None);
    assert_eq!(
        gets[1].header("if-none-match"),
        Some(remote_support::etag_of(&std::fs::read(&built.path).unwrap()).as_str())
    );
    assert_eq!(w.env.blobs(), vec![built.key()]);
    // With max-age the server is not asked again within it.
    let m = w.publish(
        &Image::new("example.com/app").file("m", b"m"),
        "example.com/m.aci",
    );
    let body = std::fs::read(&m.path).unwrap();
    w.site.put_with(
        "example.com/m.aci",
        body,
        &[("Cache-Control", "max-age=3600")],
    );
    w.rkt(&["fetch", "https://example.com/m.aci"]).ok();
    w.rkt(&["fetch", "https://example.com/m.aci"]).ok();
    assert_eq!(w.site.requests("example.com/m.aci").len(), 1);
    // pull policy new never asks when the store has it; never fails when it does not.
    w.rkt(&["fetch", "--pull-policy=new", "https://example.com/app.aci"])
        .ok();
    assert_eq!(w.site.requests("example.com/app.aci").len(), 2);
    let err = w.rkt(&[
        "fetch",
        "--pull-policy=never",
        "https://example.com/none.aci",
    ]);
    assert!(err.failed().contains("never"));
}

#[test]
fn interrupted_download_resumes_with_range() {
    let w = World::new("example.com/app");
    let img = Image::new("example.com/app").file("big", &vec![7u8; 300_000]);
    let built = w.publish(&img, "example.com/app.aci");
    let len = std::fs::metadata(&built.path).unwrap().len() as usize;
    w.site.cut_next("example.com/app.aci", len / 2);
    let first = w.rkt(&["fetch", "https://example.com/app.aci"]);
    assert!(first.failed().contains("resume"), "{first:#?}");
    assert!(w.env.blobs().is_empty());
    let second = w.rkt(&["fetch", "https://example.com/app.aci"]);
    assert_eq!(second.ok().trim(), built.short_id(), "{second:#?}");
    let gets = w.site.requests("example.com/app.aci");
    assert_eq!(gets.len(), 2);
    assert_eq!(
        gets[1].header("range"),
        Some(format!("bytes={}-", len / 2).as_str())
    );
}

#[test]
fn a_416_to_a_resume_request_starts_over() {
    let w = World::new("example.com/app");
    let img = Image::new("example.com/app").file("big", &noise(300_000));
    let built = w.publish(&img, "example.com/app.aci");
    let len = std::fs::metadata(&built.path).unwrap().len() as usize;
    w.site.cut_next("example.com/app.aci", len / 2);
    w.rkt(&["fetch", "https://example.com/app.aci"]).failed();
    w.site.refuse_ranges("example.com/app.aci");
    let out = w.rkt(&["fetch", "https://example.com/app.aci"]);
    assert_eq!(out.ok().trim(), built.short_id(), "{out:#?}");
    let gets = w.site.requests("example.com/app.aci");
    assert_eq!(gets.len(), 3, "cut, 416 to the Range, whole: {gets:#?}");
    assert!(gets[1].header("range").is_some());
    assert_eq!(gets[2].header("range"), None);
    assert!(parts(&w.env).is_empty(), "the part is gone once imported");
}

/// Bytes that do not compress, so an image is as large on the wire as its content.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Files under `cas/tmp/downloads/`.
fn parts(env: &support::TestEnv) -> Vec<String> {
    let dir = env.data_dir().join("cas/tmp/downloads");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn progress_bar_on_a_terminal_only() {
    let w = World::new("example.com/app");
    let img = Image::new("example.com/app").file("big", &noise(2_000_000));
    let built = w.publish(&img, "example.com/app.aci");
    let piped = w.rkt(&["fetch", "https://example.com/app.aci"]);
    assert_eq!(piped.ok().trim(), built.short_id(), "{piped:#?}");
    assert!(
        !piped.stderr.contains("downloading") && !piped.stderr.contains('\x1b'),
        "no bar on a pipe: {piped:#?}"
    );
    // Another URL for the same image, so the terminal run downloads it again.
    w.site
        .put("example.com/app2.aci", std::fs::read(&built.path).unwrap());
    w.site.put(
        "example.com/app2.aci.asc",
        std::fs::read(asc_of(&built.path)).unwrap(),
    );
    let tty = rkt_in_pty(
        &w.ns,
        &w.env,
        &w.ca,
        &["fetch", "https://example.com/app2.aci"],
    );
    assert_eq!(tty.code, 0, "{tty:#?}");
    assert!(
        tty.stdout
            .contains("downloading https://example.com/app2.aci"),
        "{tty:#?}"
    );
    assert!(tty.stdout.contains("/s"), "a rate: {tty:#?}");
    assert!(tty.stdout.contains(&built.short_id()), "{tty:#?}");
}

#[test]
fn image_gc_removes_stale_partial_downloads() {
    let env = support::TestEnv::new();
    env.rkt(&["image", "list"]).ok();
    let dir = env.data_dir().join("cas/tmp/downloads");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["old.part", "old.part.json", "new.part", "new.part.json"] {
        std::fs::write(dir.join(name), b"x").unwrap();
    }
    let status = std::process::Command::new("touch")
        .args(["-d", "2 days ago"])
        .arg(dir.join("old.part"))
        .status()
        .unwrap();
    assert!(status.success());
    let out = env.rkt(&["image", "gc", "--grace-period=0s"]);
    assert!(out.ok().contains("old.part"), "{out:#?}");
    assert_eq!(parts(&env), ["new.part", "new.part.json"]);
}

#[test]
fn stalled_server_and_oversized_page_end_with_errors() {
    let w = World::new("example.com/app");
    w.site.stall("example.com/app.aci");
    w.site.put("example.com/app.aci.asc", "x");
    let start = std::time::Instant::now();
    let out = rkt_in_env(
        &w,
        &[("RKT_HTTP_TIMEOUT", "2")],
        &["fetch", "https://example.com/app.aci"],
    );
    assert!(out.failed().contains("stalled"), "{out:#?}");
    assert!(start.elapsed().as_secs() < 30);
    w.site.endless("example.com/big?ac-discovery=1");
    w.site.endless("example.com/?ac-discovery=1");
    let out = w.rkt(&["fetch", "example.com/big"]);
    assert!(out.failed().contains("larger than the limit"), "{out:#?}");
}

fn rkt_in_env(w: &World, vars: &[(&str, &str)], args: &[&str]) -> support::Run {
    remote_support::rkt_in_with(&w.ns, &w.env, Some(&w.ca), vars, args)
}

#[test]
fn dependencies_are_fetched_by_discovery_and_cycles_refused() {
    let w = World::new("example.com");
    let base = w.publish(&Image::new("example.com/base"), "example.com/i/base.aci");
    let app = w.publish(
        &Image::new("example.com/app").dependency("example.com/base", &[]),
        "example.com/i/app.aci",
    );
    w.discovery(
        "example.com/",
        "example.com",
        "https://example.com/i/{name}.{ext}",
    );
    // Templates give example.com/i/example.com/base.aci: publish there too.
    for (name, b) in [("base", &base), ("app", &app)] {
        w.site.put(
            &format!("example.com/i/example.com/{name}.aci"),
            std::fs::read(&b.path).unwrap(),
        );
        w.site.put(
            &format!("example.com/i/example.com/{name}.aci.asc"),
            std::fs::read(asc_of(&b.path)).unwrap(),
        );
    }
    let out = w.rkt(&["fetch", "example.com/app"]);
    assert_eq!(out.ok().trim(), app.short_id(), "{out:#?}");
    let mut want = vec![app.key(), base.key()];
    want.sort();
    assert_eq!(w.env.blobs(), want);
    // a -> b -> a
    let a = w.publish(
        &Image::new("example.com/ca").dependency("example.com/cb", &[]),
        "example.com/i/example.com/ca.aci",
    );
    let _b = w.publish(
        &Image::new("example.com/cb").dependency("example.com/ca", &[]),
        "example.com/i/example.com/cb.aci",
    );
    let _ = a;
    let err = w.rkt(&["fetch", "example.com/ca"]).failed().to_string();
    assert!(err.contains("cycle"), "{err}");
}
