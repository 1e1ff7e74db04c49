//! Adding, listing, masking and removing trusted keys.

mod trust_support;

use std::os::unix::fs::PermissionsExt;

use stage0::trust::{Location, Scope, TrustError, key_info};
use trust_support::{Gpg, Store, id};

const DATA: &[u8] = b"image bytes";

#[test]
fn stored_key_is_named_by_fingerprint_with_mode_0644() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("Store <s@example.com>");
    let stored =
        s.ks.store_prefix_key(&id("example.com/app"), &g.export(&fp))
            .unwrap();
    assert_eq!(stored.fingerprint, fp);
    assert_eq!(stored.user_ids, ["Store <s@example.com>"]);
    let want =
        s.ks.local
            .join("trustedkeys/prefix.d/example.com/app")
            .join(&fp);
    assert_eq!(stored.path, want);
    assert_eq!(
        std::fs::metadata(&want).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let dir = s.ks.local.join("trustedkeys/prefix.d/example.com");
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let body = std::fs::read_to_string(&want).unwrap();
    assert!(body.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
}

#[test]
fn store_refuses_bad_keys() {
    let (g, s) = (Gpg::new(), Store::new());
    let cert_only = g.make_key("C <c@example.com>", "ed25519", "cert", "never", None);
    assert!(matches!(
        s.ks.store_root_key(&g.export(&cert_only)),
        Err(TrustError::NoSigningKey { .. })
    ));
    let fp = g.ed25519("P <p@example.com>");
    assert!(matches!(
        s.ks.store_root_key(&g.export_secret(&fp)),
        Err(TrustError::InvalidKey { .. })
    ));
    let mut two = g.export(&fp);
    two.extend(g.export(&cert_only));
    assert!(matches!(
        s.ks.store_root_key(&two),
        Err(TrustError::InvalidKey { .. })
    ));
    let one_block_two_keys = g.run(&["--armor", "--export", &fp, &cert_only]);
    assert!(matches!(
        s.ks.store_root_key(&one_block_two_keys),
        Err(TrustError::InvalidKey { .. })
    ));
    assert!(matches!(
        s.ks.store_root_key(b"junk"),
        Err(TrustError::InvalidKey { .. })
    ));
    assert!(
        !s.ks.local.exists(),
        "nothing may be written for a refused key"
    );
}

#[test]
fn empty_local_file_masks_a_system_key() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("Vendor <v@example.com>");
    s.put(&s.ks.system, "prefix.d/example.com", &fp, &g.export(&fp));
    let sig = g.sign(&fp, DATA, &[]);
    let signer = s.ks.verify(&id("example.com/app"), DATA, &sig).unwrap();
    assert_eq!(signer.location, Location::System);
    s.put(&s.ks.local, "prefix.d/example.com", &fp, b"");
    assert!(matches!(
        s.ks.verify(&id("example.com/app"), DATA, &sig),
        Err(TrustError::NoKeys { .. })
    ));
    assert!(s.ks.list().unwrap().is_empty());
}

#[test]
fn local_key_overrides_system_key() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("Both <b@example.com>");
    // The system copy is broken; the local copy of the same fingerprint is what counts.
    s.put(&s.ks.system, "root.d", &fp, b"garbage");
    let sig = g.sign(&fp, DATA, &[]);
    assert!(matches!(
        s.ks.verify(&id("x.org/y"), DATA, &sig),
        Err(TrustError::CorruptKeyFile { .. })
    ));
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    let signer = s.ks.verify(&id("x.org/y"), DATA, &sig).unwrap();
    assert_eq!(signer.location, Location::Local);
    assert_eq!(signer.path, s.ks.local.join("trustedkeys/root.d").join(&fp));
}

#[test]
fn key_file_holding_another_key_is_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let a = g.ed25519("A <a@example.com>");
    let b = g.ed25519("B <b@example.com>");
    s.put(&s.ks.local, "root.d", &a, &g.export(&b));
    let err =
        s.ks.verify(&id("x.org/y"), DATA, &g.sign(&b, DATA, &[]))
            .unwrap_err();
    assert!(matches!(err, TrustError::CorruptKeyFile { .. }), "{err:?}");
}

#[test]
fn list_shows_fingerprints_user_ids_scopes_and_problems() {
    let (g, s) = (Gpg::new(), Store::new());
    let root = g.ed25519("Root <root@example.com>");
    let app = g.ed25519("App <app@example.com>");
    g.run(&["--quick-add-uid", &app, "App Two <two@example.com>"]);
    let vendor = g.ed25519("Vendor <v@example.com>");
    s.ks.store_root_key(&g.export(&root)).unwrap();
    s.ks.store_prefix_key(&id("example.com/app"), &g.export(&app))
        .unwrap();
    s.put(
        &s.ks.system,
        "prefix.d/vendor.org",
        &vendor,
        &g.export(&vendor),
    );
    s.put(
        &s.ks.system,
        "prefix.d/vendor.org",
        &"0".repeat(40),
        b"not a key",
    );
    let keys = s.ks.list().unwrap();
    let summary: Vec<(String, Scope, Location, bool)> = keys
        .iter()
        .map(|k| {
            (
                k.fingerprint.clone(),
                k.scope.clone(),
                k.location,
                k.problem.is_some(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (root.clone(), Scope::Root, Location::Local, false),
            (
                app.clone(),
                Scope::Prefix(id("example.com/app")),
                Location::Local,
                false
            ),
            (
                "0".repeat(40),
                Scope::Prefix(id("vendor.org")),
                Location::System,
                true
            ),
            (
                vendor.clone(),
                Scope::Prefix(id("vendor.org")),
                Location::System,
                false
            ),
        ]
    );
    let mut uids = keys[1].user_ids.clone();
    uids.sort();
    assert_eq!(uids, ["App <app@example.com>", "App Two <two@example.com>"]);
}

#[test]
fn remove_deletes_local_and_masks_system_keys() {
    let (g, s) = (Gpg::new(), Store::new());
    let local = g.ed25519("L <l@example.com>");
    let vendor = g.ed25519("V <v@example.com>");
    let p = id("example.com");
    s.ks.store_prefix_key(&p, &g.export(&local)).unwrap();
    s.put(
        &s.ks.system,
        "prefix.d/example.com",
        &vendor,
        &g.export(&vendor),
    );

    // Wrong scope, bad input, unknown key.
    assert!(matches!(
        s.ks.remove_key(&local, None),
        Err(TrustError::KeyNotFound { .. })
    ));
    assert!(matches!(
        s.ks.remove_key("xyz", Some(&p)),
        Err(TrustError::BadFingerprint { .. })
    ));
    assert!(matches!(
        s.ks.remove_key("00000000", Some(&p)),
        Err(TrustError::KeyNotFound { .. })
    ));

    let short = local[..8].to_uppercase();
    let r = s.ks.remove_key(&short, Some(&p)).unwrap();
    assert_eq!(r.fingerprint, local);
    assert!(r.deleted.is_some() && r.masked.is_none());
    assert!(
        !s.ks
            .local
            .join("trustedkeys/prefix.d/example.com")
            .join(&local)
            .exists()
    );

    let r = s.ks.remove_key(&vendor, Some(&p)).unwrap();
    assert!(r.deleted.is_none());
    let mask = r.masked.unwrap();
    assert_eq!(std::fs::metadata(&mask).unwrap().len(), 0);
    assert!(
        s.ks.system
            .join("trustedkeys/prefix.d/example.com")
            .join(&vendor)
            .exists()
    );
    assert!(s.ks.list().unwrap().is_empty());
    let sig = g.sign(&vendor, DATA, &[]);
    assert!(matches!(
        s.ks.verify(&id("example.com/a"), DATA, &sig),
        Err(TrustError::NoKeys { .. })
    ));
}

#[test]
fn key_info_for_the_review_prompt() {
    let g = Gpg::new();
    let fp = g.make_key("Info <i@example.com>", "ed25519", "cert", "2y", None);
    let sub = g.add_subkey(&fp, "ed25519", "sign");
    let info = key_info(&g.export(&fp)).unwrap();
    assert_eq!(info.fingerprint, fp);
    assert!(fp.ends_with(&info.key_id));
    assert_eq!(info.user_ids, ["Info <i@example.com>"]);
    assert!(!info.can_sign);
    assert!(info.expires.is_some_and(|e| e > info.created));
    assert_eq!(info.subkeys.len(), 1);
    assert_eq!(info.subkeys[0].fingerprint, sub);
    assert!(info.subkeys[0].can_sign);
    assert_eq!(
        info.fingerprint_grouped().replace(' ', "").to_lowercase(),
        fp
    );
    assert!(matches!(
        key_info(b"nonsense"),
        Err(TrustError::InvalidKey { .. })
    ));
}
