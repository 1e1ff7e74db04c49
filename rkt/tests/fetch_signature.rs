//! `rkt fetch FILE`: signatures are required and checked against the trust store (security.md
//! T5, T7); nothing reaches the store when they fail.

mod support;

use support::{Gpg, Image, TestEnv, asc_of};

/// A signed image `name` in the env's work dir, signed by a fresh key; returns (gpg, fp, image).
fn signed(env: &TestEnv, name: &str) -> (Gpg, String, support::Built) {
    let gpg = Gpg::new();
    let fp = gpg.new_key("Publisher <pub@example.com>");
    let img = Image::new(name).write(&env.work().join("app.aci"));
    gpg.sign_to(&fp, &img.path, &asc_of(&img.path));
    (gpg, fp, img)
}

fn path(b: &support::Built) -> String {
    b.path.display().to_string()
}

#[test]
fn unsigned_file_is_refused_and_nothing_is_stored() {
    let env = TestEnv::new();
    let img = Image::new("example.com/app").write(&env.work().join("app.aci"));
    let err = env.rkt(&["fetch", &path(&img)]).failed().to_string();
    assert!(err.contains("app.aci"), "{err}");
    assert!(err.contains("not signed"), "{err}");
    assert!(err.contains("--insecure-options=image"), "{err}");
    assert!(env.blobs().is_empty(), "a refused image was stored");
}

#[test]
fn insecure_image_accepts_unsigned_and_prints_the_tar_hash() {
    let env = TestEnv::new();
    let img = Image::new("example.com/app").write(&env.work().join("app.aci"));
    let run = env.rkt(&["--insecure-options=image", "fetch", &path(&img)]);
    assert_eq!(run.ok().trim(), img.short_id());
    assert_eq!(env.blobs(), vec![img.key()]);
}

#[test]
fn asc_beside_the_file_with_a_trusted_prefix_key() {
    let env = TestEnv::new();
    let (gpg, fp, img) = signed(&env, "example.com/app/web");
    env.trust(&gpg, &fp, Some("example.com/app"));
    assert_eq!(env.rkt(&["fetch", &path(&img)]).ok().trim(), img.short_id());
    assert_eq!(env.blobs(), vec![img.key()]);
}

#[test]
fn signature_flag_points_elsewhere() {
    let env = TestEnv::new();
    let (gpg, fp, img) = signed(&env, "example.com/app");
    let elsewhere = env.work().join("sigs");
    std::fs::create_dir(&elsewhere).unwrap();
    let sig = elsewhere.join("the.sig");
    std::fs::rename(asc_of(&img.path), &sig).unwrap();
    env.trust(&gpg, &fp, Some("example.com/app"));
    env.rkt(&["fetch", &path(&img)]).failed();
    let flag = format!("--signature={}", sig.display());
    assert_eq!(
        env.rkt(&["fetch", &flag, &path(&img)]).ok().trim(),
        img.short_id()
    );
}

#[test]
fn key_for_another_prefix_is_refused_by_component() {
    let env = TestEnv::new();
    let (gpg, fp, img) = signed(&env, "example.com/apple");
    env.trust(&gpg, &fp, Some("example.com/app"));
    let err = env.rkt(&["fetch", &path(&img)]).failed().to_string();
    assert!(err.contains("example.com/apple"), "{err}");
    assert!(err.contains("--prefix=example.com/apple"), "{err}");
    assert!(env.blobs().is_empty());
    // The staged copy was dropped too.
    let tmp = env.data_dir().join("cas/tmp");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
}

#[test]
fn untrusted_key_is_refused() {
    let env = TestEnv::new();
    let (_gpg, _fp, img) = signed(&env, "example.com/app");
    let other = Gpg::new();
    let other_fp = other.new_key("Someone Else <else@example.com>");
    env.trust(&other, &other_fp, Some("example.com/app"));
    let err = env.rkt(&["fetch", &path(&img)]).failed().to_string();
    assert!(err.contains("not in the trust store"), "{err}");
    assert!(env.blobs().is_empty());
}

#[test]
fn root_key_signs_anything() {
    let env = TestEnv::new();
    let (gpg, fp, img) = signed(&env, "other.org/tool");
    env.trust(&gpg, &fp, None);
    assert_eq!(env.rkt(&["fetch", &path(&img)]).ok().trim(), img.short_id());
}

#[test]
fn tampered_archive_is_refused() {
    let env = TestEnv::new();
    let (gpg, fp, img) = signed(&env, "example.com/app");
    env.trust(&gpg, &fp, Some("example.com/app"));
    // Re-write the file with other content under the old signature.
    let other = Image::new("example.com/app").file("evil", b"x");
    other.write(&img.path);
    let err = env.rkt(&["fetch", &path(&img)]).failed().to_string();
    assert!(err.contains("bad signature"), "{err}");
    assert!(env.blobs().is_empty());
}

#[test]
fn tampered_signature_is_refused() {
    let env = TestEnv::new();
    let (gpg, fp, img) = signed(&env, "example.com/app");
    env.trust(&gpg, &fp, Some("example.com/app"));
    let asc = asc_of(&img.path);
    let text = std::fs::read_to_string(&asc).unwrap();
    // Flip a base64 character inside the signature value itself (the last body line, before
    // the `=CRC` line): unhashed header bytes could change without invalidating anything.
    let mut changed: Vec<String> = text.lines().map(str::to_string).collect();
    let crc = changed.iter().position(|l| l.starts_with('=')).unwrap();
    let line = &mut changed[crc - 1];
    let mid = line.len() / 2;
    let c = line.as_bytes()[mid];
    let flipped = if c == b'A' { "B" } else { "A" };
    line.replace_range(mid..mid + 1, flipped);
    std::fs::write(&asc, changed.join("\n") + "\n").unwrap();
    let err = env.rkt(&["fetch", &path(&img)]).failed().to_string();
    assert!(err.contains("app.aci.asc not accepted"), "{err}");
    assert!(env.blobs().is_empty());
}

#[test]
fn trust_then_fetch_through_the_cli() {
    let env = TestEnv::new();
    let (gpg, fp, img) = signed(&env, "example.com/app");
    let key = env.work().join("pub.asc");
    gpg.export_to(&fp, &key);
    let out = env
        .rkt(&[
            "trust",
            "--prefix=example.com/app",
            "--skip-fingerprint-review",
            &key.display().to_string(),
        ])
        .ok()
        .to_string();
    let stored = env
        .local_config()
        .join("trustedkeys/prefix.d/example.com/app")
        .join(&fp);
    assert!(stored.is_file());
    assert!(
        out.contains(&format!(
            "Added key for prefix \"example.com/app\" at {:?}",
            stored
        )),
        "{out}"
    );
    assert_eq!(env.rkt(&["fetch", &path(&img)]).ok().trim(), img.short_id());
}

#[test]
fn signature_is_checked_before_the_archive_is_read() {
    let env = TestEnv::new();
    let gpg = Gpg::new();
    let fp = gpg.new_key("Stranger <s@example.com>");
    // Not an archive at all: a parser would say so; the signature check must come first.
    let file = env.work().join("junk.aci");
    std::fs::write(&file, b"this is not an ACI").unwrap();
    gpg.sign_to(&fp, &file, &asc_of(&file));
    let other = Gpg::new();
    let trusted = other.new_key("Publisher <pub@example.com>");
    env.trust(&other, &trusted, None);
    let err = env
        .rkt(&["fetch", &file.display().to_string()])
        .failed()
        .to_string();
    assert!(err.contains("not in the trust store"), "{err}");
    assert!(!err.contains("not an ACI"), "{err}");
    // With the signer trusted, the same file gets as far as the parser.
    env.trust(&gpg, &fp, None);
    let err = env
        .rkt(&["fetch", &file.display().to_string()])
        .failed()
        .to_string();
    assert!(err.contains("not an ACI"), "{err}");
}
