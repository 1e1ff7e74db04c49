//! `Keystore::verify_any`: a signature checked before the signed image's name is known, with
//! every scope the signer is trusted for returned for the caller's name check.

mod trust_support;

use stage0::trust::{Scope, TrustError};
use trust_support::{Gpg, Store, id};

const DATA: &[u8] = b"an ACI file, as on disk\n";

#[test]
fn prefix_key_verifies_and_reports_its_scope() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("App <app@example.com>");
    s.ks.store_prefix_key(&id("example.com/app"), &g.export(&fp))
        .unwrap();
    let sig = g.sign(&fp, DATA, &[]);
    let any = s.ks.verify_any(DATA, &sig).unwrap();
    assert_eq!(any.signer.fingerprint, fp);
    assert_eq!(any.scopes, vec![Scope::Prefix(id("example.com/app"))]);
    assert!(any.covers(&id("example.com/app/web")).is_some());
    assert!(any.covers(&id("example.com/apple")).is_none());
}

#[test]
fn a_key_trusted_twice_reports_both_scopes() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("App <app@example.com>");
    let key = g.export(&fp);
    s.ks.store_prefix_key(&id("example.com/app"), &key).unwrap();
    s.ks.store_prefix_key(&id("example.com/apple"), &key)
        .unwrap();
    let any = s.ks.verify_any(DATA, &g.sign(&fp, DATA, &[])).unwrap();
    assert_eq!(any.scopes.len(), 2);
    assert_eq!(
        any.covers(&id("example.com/apple")),
        Some(&Scope::Prefix(id("example.com/apple")))
    );
}

#[test]
fn unknown_signer_empty_store_and_tampering_are_refused() {
    let (g, s) = (Gpg::new(), Store::new());
    let fp = g.ed25519("App <app@example.com>");
    let sig = g.sign(&fp, DATA, &[]);
    assert!(matches!(
        s.ks.verify_any(DATA, &sig),
        Err(TrustError::NoTrustedKeys { .. })
    ));
    let other = g.ed25519("Other <other@example.com>");
    s.ks.store_root_key(&g.export(&other)).unwrap();
    assert!(matches!(
        s.ks.verify_any(DATA, &sig),
        Err(TrustError::UntrustedSigner { .. })
    ));
    s.ks.store_root_key(&g.export(&fp)).unwrap();
    assert_eq!(s.ks.verify_any(DATA, &sig).unwrap().scopes, [Scope::Root]);
    assert!(matches!(
        s.ks.verify_any(&b"an ACI file, as on disk?"[..], &sig),
        Err(TrustError::BadSignature { .. })
    ));
}
