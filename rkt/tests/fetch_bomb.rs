//! Decompression bombs and the image size limit (`--max-image-size`) with the real `rkt`: ACI
//! bombs from a file and over HTTPS, an OCI layer bomb and a compressed docker-archive bomb,
//! the free-space guard on a small tmpfs, and the flag's parsing. Every refusal must name the
//! image, the limit and the flag, leave nothing in the store or `cas/tmp`, and keep rkt's
//! memory bounded (max RSS from `/usr/bin/time -v`); a good image fetches afterwards.

mod bomb_support;
mod remote_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use bomb_support::{GIB, MIB, files_below, max_rss_kib, write_aci_bomb, write_bomb};
use remote_support::{Ca, NetNs, Server, Site};
use support::{Image, Run, TestEnv};

/// rkt's max RSS while it refuses a bomb: streaming keeps it far below the bomb's size.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// `rkt` with `env`'s dirs under `/usr/bin/time -v` (inside `ns` when given, trusting `ca`).
fn timed_rkt(env: &TestEnv, net: Option<(&NetNs, &Ca)>, args: &[&str]) -> (Run, u64) {
    let mut cmd = match net {
        Some((ns, ca)) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns.name, "/usr/bin/time", "-v"])
                .env("SSL_CERT_FILE", ca.pem_path());
            c
        }
        None => {
            let mut c = Command::new("/usr/bin/time");
            c.arg("-v");
            c
        }
    };
    cmd.arg(env!("CARGO_BIN_EXE_rkt"))
        .arg(format!("--dir={}", env.data_dir().display()))
        .arg(format!("--local-config={}", env.local_config().display()))
        .arg(format!("--system-config={}", env.system_config().display()))
        .args(args)
        .stdin(Stdio::null());
    for v in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env_remove(v);
    }
    let started = Instant::now();
    let out = cmd.output().expect("running /usr/bin/time rkt");
    eprintln!("rkt {args:?}: {:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss = max_rss_kib(&stderr);
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    };
    (run, rss)
}

/// `fetch --insecure-options=image [--max-image-size=LIMIT] IMAGE`.
fn fetch_args<'a>(limit: Option<&'a str>, image: &'a str) -> Vec<String> {
    let mut args = vec!["fetch".to_string(), "--insecure-options=image".to_string()];
    if let Some(l) = limit {
        args.push(format!("--max-image-size={l}"));
    }
    args.push(image.to_string());
    args
}

/// [`timed_rkt`] of [`fetch_args`].
fn timed_fetch(
    env: &TestEnv,
    net: Option<(&NetNs, &Ca)>,
    limit: Option<&str>,
    image: &str,
) -> (Run, u64) {
    let args = fetch_args(limit, image);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    timed_rkt(env, net, &args)
}

/// A refusal: rkt's failure code, the message naming what it must, bounded memory, and a store
/// with nothing in it (no image, no blob, no tree, no layer, nothing in `cas/tmp`).
#[track_caller]
fn assert_refused(env: &TestEnv, (run, rss): &(Run, u64), needles: &[&str]) {
    let err = run.failed();
    for n in needles {
        assert!(err.contains(n), "message lacks {n:?}: {err}");
    }
    assert!(*rss < MAX_RSS_KIB, "rkt's max RSS {rss} KiB is not bounded");
    eprintln!("max RSS {rss} KiB; {}", err.lines().next().unwrap_or(""));
    let cas = env.data_dir().join("cas");
    assert_eq!(env.blobs(), Vec::<String>::new(), "no image kept");
    for sub in ["tmp", "tree", "layers", "info"] {
        assert_eq!(
            files_below(&cas.join(sub)),
            Vec::<String>::new(),
            "cas/{sub} must be empty"
        );
    }
}

#[test]
fn an_aci_bomb_file_stops_at_the_limit_and_a_good_image_still_fetches() {
    let env = TestEnv::new();
    let bomb = env.work().join("bomb.aci");
    let packed = write_aci_bomb(&bomb, "example.com/bomb", 4 * GIB);
    eprintln!("4 GiB of zeros in a {packed}-byte ACI");
    assert!(packed < 8 * MIB, "the bomb is small on disk");
    let path = bomb.display().to_string();
    let out = timed_fetch(&env, None, Some("64Mi"), path.as_str());
    assert_refused(
        &env,
        &out,
        &[&path, "64 MiB", "--max-image-size", "nothing was kept"],
    );
    // `prepare` (and so `run`) takes the flag after the verb too, and refuses the same way.
    let args = [
        "prepare",
        "--insecure-options=image",
        "--max-image-size=64Mi",
        path.as_str(),
    ];
    assert_refused(&env, &timed_rkt(&env, None, &args), &[&path, "64 MiB"]);
    // The store is usable: a good image under the same limit fetches and renders.
    let good = Image::new("example.com/good")
        .file("data", &[7u8; 1 << 20])
        .write(&env.work().join("good.aci"));
    let good_path = good.path.display().to_string();
    let (out, _) = timed_fetch(&env, None, Some("64Mi"), &good_path);
    assert_eq!(out.ok().trim(), good.short_id());
    assert_eq!(env.blobs(), vec![good.key()]);
}

#[test]
fn an_aci_bomb_over_https_stops_at_the_limit_and_leaves_no_download() {
    let env = TestEnv::new();
    let ca = Ca::new();
    let hosts = ["example.com"];
    let ns = NetNs::new(&hosts);
    let site = Arc::new(Site::default());
    let _server = Server::start(&ns, 443, Some(ca.server_identity(&hosts)), site.clone());
    let bomb = env.work().join("bomb.aci");
    write_aci_bomb(&bomb, "example.com/bomb", 4 * GIB);
    site.put(
        "example.com/bomb.aci",
        std::fs::read(&bomb).expect("the bomb"),
    );
    let url = "https://example.com/bomb.aci";
    let net = Some((&ns, &ca));
    let out = timed_fetch(&env, net, Some("64Mi"), url);
    assert_refused(&env, &out, &[url, "64 MiB", "--max-image-size"]);
    // A limit below the compressed size stops the download itself.
    let out = timed_fetch(&env, net, Some("1Mi"), url);
    assert_refused(&env, &out, &["the download is larger", "1 MiB"]);
    // A good image from the same server still fetches.
    let good = Image::new("example.com/good");
    let file = env.work().join("good.aci");
    let built = good.write(&file);
    site.put("example.com/good.aci", std::fs::read(&file).expect("image"));
    let (run, _) = timed_fetch(&env, net, Some("64Mi"), "https://example.com/good.aci");
    assert_eq!(run.ok().trim(), built.short_id());
    // A download the store's filesystem cannot hold stops before it is written.
    let small = TestEnv::new();
    let _tmpfs = Tmpfs::mount(&small.data_dir(), "32m");
    site.put("example.com/big.aci", vec![0u8; 40 << 20]);
    let out = timed_fetch(&small, net, None, "https://example.com/big.aci");
    assert_refused(&small, &out, &["big.aci", "not enough free space"]);
}

#[test]
fn an_oci_layer_bomb_and_a_compressed_docker_archive_bomb_are_refused() {
    let env = TestEnv::new();
    let layout = env.work().join("layout");
    bomb_support::write_oci_bomb(&layout, GIB);
    let image = format!("oci:{}:v1", layout.display());
    let out = timed_fetch(&env, None, Some("64Mi"), image.as_str());
    assert_refused(
        &env,
        &out,
        &["stopped at layer sha256:", "64 MiB", "--max-image-size"],
    );
    // A docker-archive that is itself a gzip bomb stops while it is unpacked.
    let archive = env.work().join("save.tar.gz");
    write_bomb(&archive, &[], "zeros", 4 * GIB);
    let image = format!("docker-archive:{}", archive.display());
    let out = timed_fetch(&env, None, Some("64Mi"), image.as_str());
    assert_refused(&env, &out, &["the unpacked archive", "64 MiB"]);
    // A layer under the limit fetches (16 MiB of zeros, rendered).
    let small = env.work().join("small");
    bomb_support::write_oci_bomb(&small, 16 * MIB);
    let image = format!("oci:{}:v1", small.display());
    timed_fetch(&env, None, Some("64Mi"), &image).0.ok();
    assert_eq!(files_below(&env.data_dir().join("cas/layers")).len(), 1);
}

/// A tmpfs mounted over a directory for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "rkt-bomb-test",
            ])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success(), "mounting a tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn the_free_space_guard_refuses_an_image_the_filesystem_cannot_hold() {
    let env = TestEnv::new();
    let _tmpfs = Tmpfs::mount(&env.data_dir(), "32m");
    // 48 MiB uncompressed: under the default limit, over what the 32 MiB store can hold.
    let big = env.work().join("big.aci");
    write_aci_bomb(&big, "example.com/big", 48 * MIB);
    let path = big.display().to_string();
    let out = timed_fetch(&env, None, None, &path);
    assert_refused(
        &env,
        &out,
        &[&path, "not enough free space", "safety margin", "--dir"],
    );
    let good = Image::new("example.com/good").write(&env.work().join("good.aci"));
    let good_path = good.path.display().to_string();
    let (out, _) = timed_fetch(&env, None, None, &good_path);
    assert_eq!(out.ok().trim(), good.short_id());
}

#[test]
fn bad_sizes_are_refused_with_the_reason() {
    let env = TestEnv::new();
    for (args, needle) in [
        (
            vec!["--max-image-size=12Q", "fetch", "x.aci"],
            "unknown unit \"Q\"",
        ),
        (vec!["fetch", "--max-image-size=0", "x.aci"], "0 bytes"),
        (
            vec!["fetch", "--max-image-size=1.5G", "x.aci"],
            "Ki, Mi, Gi",
        ),
        (
            vec!["prepare", "--max-image-size=lots", "x.aci"],
            "invalid size \"lots\"",
        ),
    ] {
        let out = env.rkt(&args);
        let err = out.failed();
        assert!(
            err.contains("--max-image-size") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    let help = env.rkt(&["fetch", "--help"]);
    assert!(help.ok().contains("--max-image-size"), "{help:#?}");
    assert!(help.stdout.contains("8Gi"), "the default is documented");
}
