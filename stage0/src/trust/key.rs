//! One OpenPGP public key: parsing it from armor and judging each of its components (the primary
//! key and every subkey) from the self-signatures that verify, never from ones that merely exist.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use pgp::composed::{ArmorOptions, Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{PublicKey, Signature, SignatureType};
use pgp::types::{KeyDetails, KeyVersion, Tag};

/// Armored keys are a few KiB; anything past this is hostile or a whole keyring.
pub(crate) const MAX_KEY_BYTES: usize = 1 << 20;

/// What the valid self-signatures say about one key component.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    pub fingerprint: String,
    pub key_id: String,
    pub algorithm: String,
    pub created: SystemTime,
    pub expires: Option<SystemTime>,
    /// The reason given by a verified revocation, if there is one.
    pub revoked: Option<String>,
    /// The newest valid self-signature (primary) or binding (subkey) sets the signing flag; a
    /// signing subkey also needs a valid back-signature.
    pub can_sign: bool,
    /// False when no self-signature or binding verifies: the component is not part of the key.
    pub bound: bool,
}

impl Component {
    pub fn expired_at(&self, now: SystemTime) -> Option<SystemTime> {
        self.expires.filter(|e| *e <= now)
    }

    /// Usable for signatures at `now`: bound, signing-capable, not revoked, not expired.
    pub fn usable(&self, now: SystemTime) -> bool {
        self.bound && self.can_sign && self.revoked.is_none() && self.expired_at(now).is_none()
    }
}

/// A parsed key with its components judged.
#[derive(Debug, Clone)]
pub(crate) struct Evaluated {
    pub key: SignedPublicKey,
    pub primary: Component,
    /// User IDs carrying a valid, unrevoked self-certification.
    pub user_ids: Vec<String>,
    /// Index-aligned with `key.public_subkeys`.
    pub subkeys: Vec<Component>,
}

/// Lowercase hex of a fingerprint, the form the store uses for file names.
pub(crate) fn hex_fingerprint(k: &impl KeyDetails) -> String {
    hex::encode(k.fingerprint().as_bytes())
}

fn to_system(t: pgp::types::Timestamp) -> SystemTime {
    SystemTime::from(t)
}

/// A key expiration time is relative to the component's creation; zero means "never".
fn expiry(created: SystemTime, sig: &Signature) -> Option<SystemTime> {
    let secs = sig.key_expiration_time()?.as_secs();
    (secs != 0).then(|| created + Duration::from_secs(u64::from(secs)))
}

fn sig_time(sig: &Signature) -> SystemTime {
    sig.created()
        .map(to_system)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Parse exactly one public key from armored bytes. The error is a reason, worded for a person.
pub(crate) fn parse_key(armored: &[u8]) -> Result<SignedPublicKey, String> {
    if armored.len() > MAX_KEY_BYTES {
        return Err(format!(
            "key is {} bytes, over the {MAX_KEY_BYTES}-byte limit",
            armored.len()
        ));
    }
    if contains(armored, b"PRIVATE KEY BLOCK") {
        return Err(
            "this is a private key: give the public key (gpg --armor --export) instead, \
                    and keep the private one secret"
                .into(),
        );
    }
    // The parser reads the first armor block only; a second one would go unseen.
    if count(armored, b"-----BEGIN PGP") > 1 {
        return Err("the input holds more than one armor block: trust keys one at a time".into());
    }
    let (mut keys, _) = SignedPublicKey::from_armor_many(armored)
        .map_err(|e| format!("not an armored OpenPGP public key: {e}"))?;
    let key = match keys.next() {
        Some(Ok(k)) => k,
        Some(Err(e)) => return Err(format!("cannot parse the public key: {e}")),
        None => return Err("the armor holds no public key".into()),
    };
    if keys.next().is_some() {
        return Err("the armor holds more than one key: trust them one at a time".into());
    }
    if key.primary_key.version() != KeyVersion::V4 {
        return Err(format!(
            "only version 4 keys are supported, this one is {:?}",
            key.primary_key.version()
        ));
    }
    Ok(key)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    count(hay, needle) > 0
}

pub(crate) fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Re-armor a parsed key: the store keeps exactly what was parsed and nothing else.
pub(crate) fn armor(key: &SignedPublicKey) -> Result<Vec<u8>, String> {
    key.to_armored_bytes(ArmorOptions::default())
        .map_err(|e| format!("cannot armor the key: {e}"))
}

/// Judge every component of `key`.
pub(crate) fn evaluate(key: SignedPublicKey) -> Evaluated {
    let (primary, user_ids) = evaluate_primary(&key);
    let subkeys = key
        .public_subkeys
        .iter()
        .map(|s| evaluate_subkey(&key.primary_key, s))
        .collect();
    Evaluated {
        key,
        primary,
        user_ids,
        subkeys,
    }
}

fn base_component(k: &impl KeyDetails) -> Component {
    Component {
        fingerprint: hex_fingerprint(k),
        key_id: k.legacy_key_id().to_string(),
        algorithm: format!("{:?}", k.algorithm()),
        created: to_system(k.created_at()),
        expires: None,
        revoked: None,
        can_sign: false,
        bound: false,
    }
}

fn revocation_reason(sig: &Signature) -> String {
    let code = sig.revocation_reason_code().map(|c| format!("{c:?}"));
    let text = sig
        .revocation_reason_string()
        .map(|s| String::from_utf8_lossy(s).into_owned());
    match (code, text) {
        (Some(c), Some(t)) if !t.is_empty() => format!("{c}: {t}"),
        (Some(c), _) => c,
        (None, Some(t)) if !t.is_empty() => t,
        _ => "no reason given".into(),
    }
}

fn evaluate_primary(key: &SignedPublicKey) -> (Component, Vec<String>) {
    let pk = &key.primary_key;
    let mut c = base_component(pk);
    c.revoked = key
        .details
        .revocation_signatures
        .iter()
        .find(|s| s.typ() == Some(SignatureType::KeyRevocation) && s.verify_key(pk).is_ok())
        .map(revocation_reason);

    // Every verified self-signature may carry the key's flags and expiry; the newest one rules.
    let mut selfsigs: Vec<&Signature> = key
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.verify_key(pk).is_ok())
        .collect();
    let mut user_ids = Vec::new();
    for user in &key.details.users {
        let valid: Vec<&Signature> = user
            .signatures
            .iter()
            .filter(|s| s.verify_certification(pk, Tag::UserId, &user.id).is_ok())
            .collect();
        let revoked = valid
            .iter()
            .any(|s| s.typ() == Some(SignatureType::CertRevocation));
        let certs: Vec<&Signature> = valid
            .into_iter()
            .filter(|s| s.typ() != Some(SignatureType::CertRevocation))
            .collect();
        if !certs.is_empty() && !revoked {
            user_ids.push(String::from_utf8_lossy(user.id.id()).into_owned());
        }
        selfsigs.extend(certs);
    }
    if let Some(newest) = selfsigs.iter().max_by_key(|s| sig_time(s)) {
        c.bound = true;
        c.can_sign = newest.key_flags().sign();
        c.expires = expiry(c.created, newest);
    }
    (c, user_ids)
}

fn evaluate_subkey(primary: &PublicKey, sub: &SignedPublicSubKey) -> Component {
    let mut c = base_component(&sub.key);
    let valid = |s: &&Signature| s.verify_subkey_binding(primary, &sub.key).is_ok();
    c.revoked = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
        .find(valid)
        .map(revocation_reason);
    let newest = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .filter(valid)
        .max_by_key(|s| sig_time(s));
    if let Some(binding) = newest {
        c.bound = true;
        c.expires = expiry(c.created, binding);
        // A signing subkey must sign the primary back, or anyone could claim someone else's
        // signing key as their own subkey.
        c.can_sign = binding.key_flags().sign()
            && binding
                .embedded_signature()
                .is_some_and(|back| back.verify_primary_key_binding(&sub.key, primary).is_ok());
    }
    c
}

/// A key's facts for the fingerprint review of `rkt trust` and for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Lowercase 40-hex v4 fingerprint of the primary key.
    pub fingerprint: String,
    /// The 16-hex key ID (the low 64 bits of the fingerprint).
    pub key_id: String,
    pub algorithm: String,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    /// The reason of a verified revocation of the primary key.
    pub revoked: Option<String>,
    /// The primary key itself may make signatures.
    pub can_sign: bool,
    pub user_ids: Vec<String>,
    pub subkeys: Vec<SubkeyInfo>,
}

/// One subkey of a [`KeyInfo`]; only bound subkeys (with a verifying binding) are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubkeyInfo {
    pub fingerprint: String,
    pub key_id: String,
    pub algorithm: String,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    pub revoked: Option<String>,
    pub can_sign: bool,
}

impl KeyInfo {
    /// The fingerprint in upper-case groups of four, the way `gpg` shows it for comparison.
    pub fn fingerprint_grouped(&self) -> String {
        let up = self.fingerprint.to_ascii_uppercase();
        let groups: Vec<&str> = up
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        groups.join(" ")
    }
}

pub(crate) fn info(ev: &Evaluated) -> KeyInfo {
    let p = &ev.primary;
    KeyInfo {
        fingerprint: p.fingerprint.clone(),
        key_id: p.key_id.clone(),
        algorithm: p.algorithm.clone(),
        created: p.created.into(),
        expires: p.expires.map(Into::into),
        revoked: p.revoked.clone(),
        can_sign: p.can_sign,
        user_ids: ev.user_ids.clone(),
        subkeys: ev
            .subkeys
            .iter()
            .filter(|s| s.bound)
            .map(|s| SubkeyInfo {
                fingerprint: s.fingerprint.clone(),
                key_id: s.key_id.clone(),
                algorithm: s.algorithm.clone(),
                created: s.created.into(),
                expires: s.expires.map(Into::into),
                revoked: s.revoked.clone(),
                can_sign: s.can_sign,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_private_keys_oversize_and_garbage() {
        let private =
            b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n";
        assert!(parse_key(private).unwrap_err().contains("private key"));
        let big = vec![b'a'; MAX_KEY_BYTES + 1];
        assert!(parse_key(&big).unwrap_err().contains("limit"));
        assert!(parse_key(b"hello").unwrap_err().contains("not an armored"));
    }

    #[test]
    fn groups_fingerprints_like_gpg() {
        let info = KeyInfo {
            fingerprint: "9e9cb8a00bc136915757bc08b75f40cd93bfd8db".into(),
            key_id: "b75f40cd93bfd8db".into(),
            algorithm: "EdDSALegacy".into(),
            created: DateTime::<Utc>::from(SystemTime::UNIX_EPOCH),
            expires: None,
            revoked: None,
            can_sign: true,
            user_ids: vec![],
            subkeys: vec![],
        };
        assert_eq!(
            info.fingerprint_grouped(),
            "9E9C B8A0 0BC1 3691 5757 BC08 B75F 40CD 93BF D8DB"
        );
    }
}
