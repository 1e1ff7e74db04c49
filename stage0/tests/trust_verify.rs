//! Signature checks against a real trust store, with keys and signatures made by GnuPG.

mod trust_support;

use std::io::Read;
use std::time::{Duration, SystemTime};

use stage0::trust::{Location, Scope, TrustError};
use trust_support::{Gpg, Store, id};

const DATA: &[u8] = b"an ACI, as served\n";

#[test]
fn root_key_verifies_any_name() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("Root <root@example.com>");
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let sig = g.sign(&fp, DATA, &[]);
    let signer = s.ks.verify(&id("anything.org/image"), DATA, &sig).unwrap();
    assert_eq!(signer.fingerprint, fp);
    assert_eq!(signer.signing_key, fp);
    assert_eq!(signer.scope, Scope::Root);
    assert_eq!(signer.location, Location::Local);
    assert_eq!(signer.user_ids, ["Root <root@example.com>"]);
}

#[test]
fn prefix_key_covers_exact_name_and_sub_paths_only() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("App <app@example.com>");
    s.ks.store_prefix_key(&id("example.com/app"), &g.export(&fp))
        .unwrap();
    let sig = g.sign(&fp, DATA, &[]);
    for name in [
        "example.com/app",
        "example.com/app/x",
        "example.com/app/x/y",
    ] {
        let signer = s.ks.verify(&id(name), DATA, &sig).unwrap();
        assert_eq!(signer.scope, Scope::Prefix(id("example.com/app")), "{name}");
    }
    // T5: a key for `app` is no key for `apple`, nor for the parent.
    for name in ["example.com/apple", "example.com", "example.com/ap"] {
        match s.ks.verify(&id(name), DATA, &sig) {
            Err(TrustError::NoKeys {
                name: n, searched, ..
            }) => {
                assert_eq!(n, name);
                assert!(searched.contains(&name.to_string()));
            }
            other => panic!("{name}: expected NoKeys, got {other:?}"),
        }
    }
}

#[test]
fn app_key_is_refused_for_apple_even_when_apple_has_keys() {
    let (g, s) = (Gpg::new(), Store::new());
    let app = g.ed25519("App <app@example.com>");
    let apple = g.ed25519("Apple <apple@example.com>");
    s.ks.store_prefix_key(&id("example.com/app"), &g.export(&app))
        .unwrap();
    s.ks.store_prefix_key(&id("example.com/apple"), &g.export(&apple))
        .unwrap();
    let sig = g.sign(&app, DATA, &[]);
    match s.ks.verify(&id("example.com/apple"), DATA, &sig) {
        Err(TrustError::UnknownSigner {
            key_id,
            needed,
            trusted_for,
            ..
        }) => {
            assert!(app.ends_with(&key_id), "{key_id} vs {app}");
            assert_eq!(needed, ["example.com/apple", "example.com"]);
            assert_eq!(trusted_for, ["prefix example.com/app"]);
        }
        other => panic!("expected UnknownSigner, got {other:?}"),
    }
    assert!(
        s.ks.verify(&id("example.com/apple"), DATA, &g.sign(&apple, DATA, &[]))
            .is_ok()
    );
}

#[test]
fn signature_by_an_untrusted_key_is_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let trusted = g.ed25519("Trusted <t@example.com>");
    let other = g.ed25519("Other <o@example.com>");
    s.ks.store_prefix_key(&id("example.com"), &g.export(&trusted))
        .unwrap();
    let err =
        s.ks.verify(&id("example.com/app"), DATA, &g.sign(&other, DATA, &[]))
            .unwrap_err();
    match err {
        TrustError::UnknownSigner {
            key_id,
            trusted_for,
            ..
        } => {
            assert!(other.ends_with(&key_id));
            assert!(trusted_for.is_empty());
        }
        other => panic!("expected UnknownSigner, got {other:?}"),
    }
}

#[test]
fn tampered_data_is_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("T <t@example.com>");
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let sig = g.sign(&fp, DATA, &[]);
    let mut bad = DATA.to_vec();
    bad[0] ^= 1;
    let err =
        s.ks.verify(&id("example.com/app"), &bad[..], &sig)
            .unwrap_err();
    assert!(
        matches!(err, TrustError::BadSignature { ref fingerprint, .. } if *fingerprint == fp),
        "{err:?}"
    );
    // Truncated and extended data too.
    assert!(matches!(
        s.ks.verify(&id("example.com/app"), &DATA[..DATA.len() - 1], &sig),
        Err(TrustError::BadSignature { .. })
    ));
}

#[test]
fn tampered_signature_is_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("T <t@example.com>");
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let sig = String::from_utf8(g.sign(&fp, DATA, &[])).unwrap();
    // Flip one base64 digit near the end of the body (the signature value) and drop the
    // optional CRC line so that only the cryptography can notice.
    let mut lines: Vec<String> = sig.lines().map(str::to_string).collect();
    lines.retain(|l| !(l.starts_with('=') && l.len() == 5));
    let body_last = lines
        .iter()
        .rposition(|l| !l.starts_with("-----") && !l.is_empty())
        .unwrap();
    let line = &mut lines[body_last - 1];
    let pos = line.len() / 2;
    let c = line.as_bytes()[pos];
    let flipped = if c == b'A' { 'B' } else { 'A' };
    line.replace_range(pos..pos + 1, &flipped.to_string());
    let tampered = lines.join("\n") + "\n";
    let err =
        s.ks.verify(&id("example.com/app"), DATA, tampered.as_bytes())
            .unwrap_err();
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err:?}");
}

#[test]
fn expired_key_is_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.make_key(
        "Old <old@example.com>",
        "ed25519",
        "sign",
        "1d",
        Some("20200101T000000"),
    );
    let key = g.export(&fp);
    // `rkt trust` refuses it outright...
    assert!(matches!(
        s.ks.store_root_key(&key),
        Err(TrustError::Expired { .. })
    ));
    // ...and a key that expired after it was trusted no longer verifies anything.
    s.put(&s.ks.local, "root.d", &fp, &key);
    let sig = g.sign(&fp, DATA, &["--faked-system-time", "20200101T010000"]);
    match s.ks.verify(&id("example.com/app"), DATA, &sig).unwrap_err() {
        TrustError::Expired {
            fingerprint,
            expired,
        } => {
            assert_eq!(fingerprint, fp);
            assert_eq!(expired.format("%Y-%m-%d").to_string(), "2020-01-02");
        }
        other => panic!("expected Expired, got {other:?}"),
    }
}

#[test]
fn revoked_key_is_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("Soon revoked <r@example.com>");
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let sig = g.sign(&fp, DATA, &[]);
    assert!(s.ks.verify(&id("example.com/app"), DATA, &sig).is_ok());
    g.revoke(&fp);
    let revoked = g.export(&fp);
    assert!(matches!(
        s.ks.store_root_key(&revoked),
        Err(TrustError::Revoked { .. })
    ));
    s.put(&s.ks.local, "root.d", &fp, &revoked);
    let err = s.ks.verify(&id("example.com/app"), DATA, &sig).unwrap_err();
    assert!(
        matches!(err, TrustError::Revoked { ref fingerprint, .. } if *fingerprint == fp),
        "{err:?}"
    );
}

#[test]
fn revoked_signing_subkey_is_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.make_key("Sub <s@example.com>", "ed25519", "cert", "never", None);
    let sub = g.add_subkey(&fp, "ed25519", "sign");
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let sig = g.sign(&sub, DATA, &[]);
    let signer = s.ks.verify(&id("example.com/app"), DATA, &sig).unwrap();
    assert_eq!(
        (signer.fingerprint.as_str(), signer.signing_key.as_str()),
        (fp.as_str(), sub.as_str())
    );
    g.revoke_subkey(&fp, 1);
    let updated = g.export(&fp);
    // The primary can still certify but nothing can sign any more.
    assert!(matches!(
        s.ks.store_root_key(&updated),
        Err(TrustError::NoSigningKey { .. })
    ));
    s.put(&s.ks.local, "root.d", &fp, &updated);
    let err = s.ks.verify(&id("example.com/app"), DATA, &sig).unwrap_err();
    assert!(
        matches!(err, TrustError::Revoked { ref fingerprint, .. } if *fingerprint == sub),
        "{err:?}"
    );
}

#[test]
fn sha1_signature_is_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.make_key("Rsa <rsa@example.com>", "rsa2048", "sign", "never", None);
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let good = g.sign(&fp, DATA, &["--digest-algo", "SHA256"]);
    assert!(s.ks.verify(&id("example.com/app"), DATA, &good).is_ok());
    let weak = g.sign(&fp, DATA, &["--digest-algo", "SHA1"]);
    match s.ks.verify(&id("example.com/app"), DATA, &weak) {
        Err(TrustError::WeakHash { algorithm }) => assert_eq!(algorithm, "SHA1"),
        other => panic!("expected WeakHash, got {other:?}"),
    }
}

#[test]
fn signature_from_the_future_is_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("F <f@example.com>");
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let sig = g.sign(&fp, DATA, &[]);
    // The same signature seen by a clock an hour behind is from the future...
    let past = SystemTime::now() - Duration::from_secs(3600);
    assert!(matches!(
        s.ks.verify_at(&id("example.com/app"), DATA, &sig, past),
        Err(TrustError::FutureSignature { .. })
    ));
    // ...and one made a day ahead is refused by the real clock.
    let ahead = chrono::Utc::now() + chrono::Duration::days(1);
    let t = ahead.format("%Y%m%dT%H%M%S").to_string();
    let future = g.sign(&fp, DATA, &["--faked-system-time", &t]);
    assert!(matches!(
        s.ks.verify(&id("example.com/app"), DATA, &future),
        Err(TrustError::FutureSignature { .. })
    ));
}

#[test]
fn subkey_without_signing_flag_is_refused() {
    use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::types::{KeyDetails, Password};

    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("Auth <a@example.com>");
    let auth = g.add_subkey(&fp, "ed25519", "auth");
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    // gpg will not sign with an authentication subkey, so sign with its secret through rPGP.
    let (secret, _) = SignedSecretKey::from_armor_single(&g.export_secret(&fp)[..]).unwrap();
    let subkey = secret
        .secret_subkeys
        .iter()
        .find(|k| hex::encode(k.key.fingerprint().as_bytes()) == auth)
        .unwrap();
    let sig = DetachedSignature::sign_binary_data(
        rand::thread_rng(),
        &subkey.key,
        &Password::empty(),
        HashAlgorithm::Sha256,
        DATA,
    )
    .unwrap();
    let armored = sig.to_armored_bytes(ArmorOptions::default()).unwrap();
    match s.ks.verify(&id("example.com/app"), DATA, &armored) {
        Err(TrustError::NotSigningKey { fingerprint, .. }) => assert_eq!(fingerprint, auth),
        other => panic!("expected NotSigningKey, got {other:?}"),
    }
}

#[test]
fn large_data_is_streamed() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("Big <b@example.com>");
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let path = s.dir.path().join("big.aci");
    let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        for _ in 0..32 {
            f.write_all(&chunk).unwrap();
        }
    }
    let sig = g.sign_file(&fp, &path, &[]);
    let file = std::fs::File::open(&path).unwrap();
    assert!(s.ks.verify(&id("example.com/app"), file, &sig).is_ok());
}

#[test]
fn failing_reader_is_reported_as_such() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("connection reset"));
            }
            self.0 -= 1;
            buf[0] = b'x';
            Ok(1)
        }
    }
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("R <r@example.com>");
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let sig = g.sign(&fp, DATA, &[]);
    let err =
        s.ks.verify(&id("example.com/app"), Failing(3), &sig)
            .unwrap_err();
    assert!(matches!(err, TrustError::ReadData { .. }), "{err:?}");
}

#[test]
fn no_keys_error_says_how_to_trust() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("N <n@example.com>");
    let err =
        s.ks.verify(&id("example.com/app"), DATA, &g.sign(&fp, DATA, &[]))
            .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TrustError::NoKeys { .. }));
    assert!(msg.contains("rkt trust --prefix=example.com/app"), "{msg}");
    assert!(msg.contains("example.com"), "{msg}");
}
