//! The store under stress, through the real binary: concurrent fetches of one image, and
//! fetches killed with SIGKILL at random points (T17, T18).

mod support;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha512};
use support::{Image, TestEnv};

/// A few MB of poorly compressible content, so a fetch takes long enough to be interrupted.
fn big_image(name: &str, mb: usize) -> Image {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut img = Image::new(name);
    for f in 0..mb {
        let data: Vec<u8> = (0..1024 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        img = img.file(&format!("data/blob-{f}"), &data);
    }
    img
}

/// Every blob in the store must be stored under the key of its own decompressed content.
fn assert_blobs_match_their_keys(env: &TestEnv) {
    for key in env.blobs() {
        let path = env
            .data_dir()
            .join("cas/blob/sha512")
            .join(&key[7..9])
            .join(&key);
        let file = std::fs::File::open(&path).expect("opening a blob");
        let mut dec = flate2::read::MultiGzDecoder::new(file);
        let mut h = Sha512::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = dec.read(&mut buf).expect("a stored blob decompresses");
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let digest = hex::encode(h.finalize());
        assert_eq!(&digest[..64], &key[7..], "blob {key} holds other content");
    }
}

fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn eight_concurrent_fetches_store_one_object() {
    let env = TestEnv::new();
    let built = big_image("example.com/concurrent", 2).write(&env.work().join("c.aci"));
    let path = built.path.to_string_lossy().into_owned();
    let children: Vec<_> = (0..8)
        .map(|_| {
            env.command(&["--insecure-options=image", "fetch", "--full", &path])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawning rkt fetch")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("waiting for rkt fetch");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a concurrent fetch failed: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), built.key());
    }
    assert_eq!(env.blobs(), vec![built.key()]);
    assert_eq!(
        count_entries(&env.data_dir().join("cas/tmp")),
        0,
        "temp files left"
    );
    assert_blobs_match_their_keys(&env);
}

#[test]
fn fetches_killed_at_random_points_leave_a_consistent_store() {
    let env = TestEnv::new();
    let built = big_image("example.com/crash", 2).write(&env.work().join("k.aci"));
    let path = built.path.to_string_lossy().into_owned();
    let fetch =
        |env: &TestEnv| env.command(&["--insecure-options=image", "fetch", "--full", &path]);

    // How long one whole fetch takes here, to spread the kills over it.
    let start = Instant::now();
    let probe = TestEnv::new();
    assert!(fetch(&probe).output().expect("rkt fetch").status.success());
    let full = start.elapsed().max(Duration::from_millis(20));

    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..30 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = full.mul_f64((seed >> 33) as f64 / (1u64 << 31) as f64);
        let mut child = fetch(&env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        // After any crash: no object under a wrong digest, and only complete blobs.
        assert_blobs_match_their_keys(&env);
        let blobs = env.blobs();
        assert!(
            blobs.is_empty() || blobs == vec![built.key()],
            "round {round}: {blobs:?}"
        );
    }
    // The next run repairs what the kills left and works.
    let out = fetch(&env).output().expect("rkt fetch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), built.key());
    assert_eq!(
        count_entries(&env.data_dir().join("cas/tmp")),
        0,
        "temp files left"
    );
    // Every tree that claims to be rendered is complete (image verify re-hashes it).
    let trees = env.data_dir().join("cas/tree");
    for tree in std::fs::read_dir(&trees).into_iter().flatten().flatten() {
        assert!(
            tree.path().join("rendered").exists(),
            "incomplete tree {:?} left",
            tree.path()
        );
        for (f, data) in &big_image("example.com/crash", 2).files {
            let on_disk = std::fs::read(tree.path().join("rootfs").join(f)).expect("tree file");
            assert!(on_disk == *data, "tree file {f} differs");
        }
    }
}

#[test]
fn rm_and_gc_while_another_process_reads() {
    let env = TestEnv::new();
    let built = big_image("example.com/busy", 2).write(&env.work().join("b.aci"));
    let path = built.path.to_string_lossy().into_owned();
    let fetch = || env.rkt(&["--insecure-options=image", "fetch", "--full", &path]);
    fetch().ok();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut good = 0;
            for i in 0..200 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) && i > 5 {
                    break;
                }
                let out = env.work().join(format!("export-{i}.aci"));
                let run = env.rkt(&["image", "export", &built.key(), &out.to_string_lossy()]);
                match run.code {
                    0 => {
                        // A successful export is always the whole image, never a partial one.
                        let bytes = std::fs::read(&out).expect("exported file");
                        assert_eq!(hex::encode(Sha512::digest(&bytes)), built.id[7..]);
                        good += 1;
                    }
                    254 => assert!(!out.exists(), "a failed export left {out:?}"),
                    code => panic!("export crashed with {code}: {run:?}"),
                }
                let _ = std::fs::remove_file(&out);
            }
            good
        });
        for _ in 0..5 {
            let rm = env.rkt(&["image", "rm", &built.key()]);
            assert!(rm.code == 0 || rm.code == 254, "{rm:?}");
            let gc = env.rkt(&["image", "gc", "--grace-period=0s"]);
            assert_eq!(gc.code, 0, "{gc:?}");
            fetch().ok();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(
            reader.join().expect("reader thread") > 0,
            "no export ever succeeded"
        );
    });
    assert_blobs_match_their_keys(&env);
    assert_eq!(env.blobs(), vec![built.key()]);
    env.rkt(&["image", "verify", &built.key()]).ok();
}
