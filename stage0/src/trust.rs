//! The trust store and the signature check of images (rkt's `trustedkeys`, done stricter).
//!
//! Keys live in `<system>/trustedkeys/` (default `/usr/lib/rkt`) and `<local>/trustedkeys/`
//! (default `/etc/rkt`), under `root.d/<fingerprint>` (trusted for every image) or
//! `prefix.d/<prefix>/<fingerprint>` (trusted for names under that prefix). A file is named by
//! the lowercase 40-hex fingerprint and holds the armored public key. A local file wins over the
//! system one; an empty local file masks it.
//!
//! [`Keystore::verify`] checks a detached signature against the root keys and the keys of every
//! prefix of the image name, matched by whole path components: a key for `example.com/app`
//! covers `example.com/app` and `example.com/app/x`, never `example.com/apple`. It refuses
//! SHA-1/MD5 signatures, signatures from the future, expired or revoked keys and subkeys, and
//! subkeys not bound for signing. The signed data is streamed, never held in memory.

mod key;
mod layout;
mod sig;
mod store;

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::time::SystemTime;

use aci::types::AcIdentifier;
use chrono::{DateTime, Utc};

pub use key::{KeyInfo, SubkeyInfo};
pub use sig::CLOCK_SKEW;

use key::{Component, Evaluated};
use layout::KeyFile;

/// Everything that can go wrong with the trust store or a signature check.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "no trusted key covers image {name:?}: looked for root keys and for keys of the prefixes \
         {searched:?} in {local}/trustedkeys and {system}/trustedkeys; trust the key of the \
         image's publisher with `rkt trust --prefix={name} <key>`"
    )]
    NoKeys {
        name: String,
        searched: Vec<String>,
        local: PathBuf,
        system: PathBuf,
    },
    #[error(
        "the signature of image {name:?} was made by key {key_id}, which is not trusted for it: \
         it would need to be a root key or a key for one of {needed:?}{}",
        trusted_elsewhere_note(.trusted_for)
    )]
    UnknownSigner {
        key_id: String,
        name: String,
        needed: Vec<String>,
        trusted_for: Vec<String>,
    },
    #[error(
        "bad signature by key {fingerprint}: {reason} (the image or its signature was altered)"
    )]
    BadSignature { fingerprint: String, reason: String },
    #[error("key {fingerprint} expired on {expired}; ask the publisher for a renewed key")]
    Expired {
        fingerprint: String,
        expired: DateTime<Utc>,
    },
    #[error("key {fingerprint} has been revoked ({reason}); do not trust what it signed")]
    Revoked { fingerprint: String, reason: String },
    #[error(
        "no key is trusted at all (looked in {local}/trustedkeys and {system}/trustedkeys); \
         trust the key of the image's publisher with `rkt trust --prefix=<image name> <key>`"
    )]
    NoTrustedKeys { local: PathBuf, system: PathBuf },
    #[error(
        "the signature was made by key {key_id}, which is not in the trust store; trust it with \
         `rkt trust --prefix=<image name> <key>` if it is the image publisher's"
    )]
    UntrustedSigner { key_id: String },
    #[error("signature uses the broken hash {algorithm}; re-sign with SHA-256 or stronger")]
    WeakHash { algorithm: String },
    #[error("key {fingerprint} may not make signatures: {reason}")]
    NotSigningKey { fingerprint: String, reason: String },
    #[error(
        "signature was created at {created}, in the future (now {now}, allowed skew 5 minutes); \
         check the clock"
    )]
    FutureSignature {
        created: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error("signature expired on {expired}")]
    SignatureExpired { expired: DateTime<Utc> },
    #[error("signature not accepted: {reason}")]
    UnsupportedSignature { reason: String },
    #[error("malformed signature: {reason}")]
    MalformedSignature { reason: String },
    #[error("signature names key ID {key_id}, which matches several trusted keys: {matches:?}")]
    AmbiguousIssuer {
        key_id: String,
        matches: Vec<String>,
    },
    #[error("invalid key: {reason}")]
    InvalidKey { reason: String },
    #[error("key {fingerprint} has no usable signing key (primary or subkey): {reason}")]
    NoSigningKey { fingerprint: String, reason: String },
    #[error("trusted key file {path}: {reason}; remove it or mask it with an empty local file")]
    CorruptKeyFile { path: PathBuf, reason: String },
    #[error("{value:?} is not a fingerprint: give 8 to 40 hex digits of it")]
    BadFingerprint { value: String },
    #[error("no key {fingerprint} is trusted for {scope}")]
    KeyNotFound { fingerprint: String, scope: Scope },
    #[error("{prefix} matches several keys trusted for {scope}: {matches:?}; give more digits")]
    AmbiguousFingerprint {
        prefix: String,
        scope: Scope,
        matches: Vec<String>,
    },
    #[error("cannot read the signed data: {source}")]
    ReadData { source: std::io::Error },
    #[error("cannot {action} {path}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
}

fn trusted_elsewhere_note(scopes: &[String]) -> String {
    if scopes.is_empty() {
        String::new()
    } else {
        format!(" (the store trusts it only for {})", scopes.join(", "))
    }
}

/// What a key is trusted for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `root.d`: every image.
    Root,
    /// `prefix.d/<prefix>`: images named by the prefix or below it.
    Prefix(AcIdentifier),
}

impl Scope {
    /// True when an image called `name` may be signed by a key of this scope: whole path
    /// components, so `example.com/app` covers `example.com/app/x` but not `example.com/apple`.
    pub fn covers(&self, name: &AcIdentifier) -> bool {
        match self {
            Scope::Root => true,
            Scope::Prefix(p) => {
                let (p, n) = (p.as_str(), name.as_str());
                n == p || (n.starts_with(p) && n.as_bytes().get(p.len()) == Some(&b'/'))
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Root => f.write_str("root (all images)"),
            Scope::Prefix(p) => write!(f, "prefix {p}"),
        }
    }
}

/// Which config dir a key file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The vendor dir (`/usr/lib/rkt`).
    System,
    /// The administrator's dir (`/etc/rkt`); it wins.
    Local,
}

/// The prefixes of `name` by whole components, the longest first: `a.com/b/c` gives
/// `a.com/b/c`, `a.com/b`, `a.com`.
pub fn prefixes_of(name: &AcIdentifier) -> Vec<AcIdentifier> {
    let s = name.as_str();
    let mut out = vec![name.clone()];
    for (i, _) in s.match_indices('/').rev() {
        // A prefix of an AcIdentifier cut before a '/' is itself a valid AcIdentifier.
        if let Ok(p) = AcIdentifier::new(&s[..i]) {
            out.push(p);
        }
    }
    out
}

/// One key in force in the store, as [`Keystore::list`] shows it.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub fingerprint: String,
    pub user_ids: Vec<String>,
    pub scope: Scope,
    pub location: Location,
    pub path: PathBuf,
    /// Why this key cannot be used (unparsable, revoked, expired, ...), if it cannot.
    pub problem: Option<String>,
}

/// A key just written by [`Keystore::store_prefix_key`] or [`Keystore::store_root_key`].
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub fingerprint: String,
    pub user_ids: Vec<String>,
    pub scope: Scope,
    pub path: PathBuf,
}

/// What [`Keystore::remove_key`] did: deleted the local file, masked the system one, or both.
#[derive(Debug, Clone)]
pub struct RemovedKey {
    pub fingerprint: String,
    pub scope: Scope,
    pub deleted: Option<PathBuf>,
    pub masked: Option<PathBuf>,
}

/// Who made a signature that [`Keystore::verify`] accepted.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The primary key's fingerprint (the name of the key file).
    pub fingerprint: String,
    /// The component that signed: the primary key or one of its subkeys.
    pub signing_key: String,
    pub scope: Scope,
    pub location: Location,
    pub path: PathBuf,
    pub user_ids: Vec<String>,
    pub signed_at: DateTime<Utc>,
}

/// Who made a signature that [`Keystore::verify_any`] accepted.
#[derive(Debug, Clone)]
pub struct AnySigner {
    /// The key file that matched first (root before prefixes).
    pub signer: Signer,
    /// Every scope the store trusts this key for.
    pub scopes: Vec<Scope>,
}

impl AnySigner {
    /// The scope that lets this signer sign an image called `name`, if any.
    pub fn covers(&self, name: &AcIdentifier) -> Option<&Scope> {
        self.scopes.iter().find(|s| s.covers(name))
    }
}

/// Facts about an armored key, for the fingerprint review of `rkt trust`.
pub fn key_info(armored: &[u8]) -> Result<KeyInfo, TrustError> {
    let parsed = key::parse_key(armored).map_err(|reason| TrustError::InvalidKey { reason })?;
    Ok(key::info(&key::evaluate(parsed)))
}

/// Fetch an armored public key from `url` with `client`'s transport rules, bounded in size.
pub fn fetch_key(
    client: &crate::remote::HttpClient,
    url: &str,
) -> Result<Vec<u8>, crate::remote::RemoteError> {
    client
        .get(url, &[])?
        .read_limited(crate::remote::MAX_KEY_SIZE)
}

/// A trusted key loaded for a check.
struct Candidate {
    ev: Evaluated,
    file: KeyFile,
    scope: Scope,
}

/// The two-level trust store.
#[derive(Debug, Clone)]
pub struct Keystore {
    pub system: PathBuf,
    pub local: PathBuf,
}

impl Keystore {
    /// A store over the config dirs `system` (vendor) and `local` (administrator); the keys are
    /// under `trustedkeys/` in each.
    pub fn new(system: impl Into<PathBuf>, local: impl Into<PathBuf>) -> Self {
        Keystore {
            system: system.into(),
            local: local.into(),
        }
    }

    /// rkt's defaults: `/usr/lib/rkt` and `/etc/rkt`.
    pub fn default_dirs() -> Self {
        Keystore::new("/usr/lib/rkt", "/etc/rkt")
    }

    /// Check `armored_signature` over `signed_data` for the image called `name`, now.
    pub fn verify(
        &self,
        name: &AcIdentifier,
        signed_data: impl Read,
        armored_signature: &[u8],
    ) -> Result<Signer, TrustError> {
        self.verify_at(name, signed_data, armored_signature, SystemTime::now())
    }

    /// [`Keystore::verify`] with an explicit clock. Everything about the signature and the key
    /// is checked before the first byte of `signed_data` is read.
    pub fn verify_at(
        &self,
        name: &AcIdentifier,
        signed_data: impl Read,
        armored_signature: &[u8],
        now: SystemTime,
    ) -> Result<Signer, TrustError> {
        let claims = sig::check(sig::parse(armored_signature)?, now)?;
        let candidates = self.candidates(name)?;
        if candidates.is_empty() {
            return Err(TrustError::NoKeys {
                name: name.to_string(),
                searched: prefixes_of(name).iter().map(ToString::to_string).collect(),
                local: self.local.clone(),
                system: self.system.clone(),
            });
        }
        let unknown = |claims: &sig::Claims| TrustError::UnknownSigner {
            key_id: claims.display_key_id(),
            name: name.to_string(),
            needed: prefixes_of(name).iter().map(ToString::to_string).collect(),
            trusted_for: self.scopes_trusting(claims),
        };
        let cand = find_signer(&candidates, &claims, unknown)?;
        verify_with(cand, &claims, signed_data, now)
    }

    /// Check a signature when the image's name is not known yet (a file on disk, whose
    /// manifest must not be parsed before its signature verifies): any trusted key, root or
    /// prefix, may have made it. The caller must then check that one of the returned
    /// [`AnySigner::scopes`] covers the manifest name ([`AnySigner::covers`]).
    pub fn verify_any(
        &self,
        signed_data: impl Read,
        armored_signature: &[u8],
    ) -> Result<AnySigner, TrustError> {
        self.verify_any_at(signed_data, armored_signature, SystemTime::now())
    }

    /// [`Keystore::verify_any`] with an explicit clock.
    pub fn verify_any_at(
        &self,
        signed_data: impl Read,
        armored_signature: &[u8],
        now: SystemTime,
    ) -> Result<AnySigner, TrustError> {
        let claims = sig::check(sig::parse(armored_signature)?, now)?;
        let mut scopes = vec![Scope::Root];
        scopes.extend(
            layout::prefixes(&self.system, &self.local)?
                .into_iter()
                .map(Scope::Prefix),
        );
        let candidates = self.load_scopes(scopes)?;
        if candidates.is_empty() {
            return Err(TrustError::NoTrustedKeys {
                local: self.local.clone(),
                system: self.system.clone(),
            });
        }
        let unknown = |claims: &sig::Claims| TrustError::UntrustedSigner {
            key_id: claims.display_key_id(),
        };
        let cand = find_signer(&candidates, &claims, unknown)?;
        let signer = verify_with(cand, &claims, signed_data, now)?;
        // The same key may be trusted under several scopes; the caller needs all of them.
        let mut all: Vec<Scope> = candidates
            .iter()
            .filter(|c| c.ev.primary.fingerprint == signer.fingerprint)
            .map(|c| c.scope.clone())
            .collect();
        all.dedup();
        Ok(AnySigner {
            signer,
            scopes: all,
        })
    }

    /// The keys that may sign `name`: its prefixes' keys, longest prefix first, then root keys.
    fn candidates(&self, name: &AcIdentifier) -> Result<Vec<Candidate>, TrustError> {
        let mut scopes: Vec<Scope> = prefixes_of(name).into_iter().map(Scope::Prefix).collect();
        scopes.push(Scope::Root);
        self.load_scopes(scopes)
    }

    /// Every key file of the given scopes, in that order.
    fn load_scopes(&self, scopes: Vec<Scope>) -> Result<Vec<Candidate>, TrustError> {
        let mut out = Vec::new();
        for scope in scopes {
            for file in layout::read_scope(&self.system, &self.local, &scope)? {
                let ev = load_key_file(&file)?;
                out.push(Candidate {
                    ev,
                    file,
                    scope: scope.clone(),
                });
            }
        }
        Ok(out)
    }

    /// For an error message only: the scopes anywhere in the store that trust the signer.
    fn scopes_trusting(&self, claims: &sig::Claims) -> Vec<String> {
        let Ok(keys) = self.list() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for k in keys {
            let Ok(bytes) = layout::read_limited(&k.path, key::MAX_KEY_BYTES) else {
                continue;
            };
            let Ok(parsed) = key::parse_key(&bytes) else {
                continue;
            };
            let ev = key::evaluate(parsed);
            let mut comps = std::iter::once(&ev.primary).chain(ev.subkeys.iter());
            if comps.any(|c| claims.names(&c.fingerprint, &c.key_id)) {
                out.push(k.scope.to_string());
            }
        }
        out
    }
}

/// The one candidate component the signature names, or why there is none (`unknown` builds
/// the error for a signer no candidate holds).
fn find_signer<'a>(
    candidates: &'a [Candidate],
    claims: &sig::Claims,
    unknown: impl FnOnce(&sig::Claims) -> TrustError,
) -> Result<(&'a Candidate, Option<usize>), TrustError> {
    let mut found: Vec<(&Candidate, Option<usize>, &str)> = Vec::new();
    for cand in candidates {
        let comps = std::iter::once((None, &cand.ev.primary)).chain(
            cand.ev
                .subkeys
                .iter()
                .enumerate()
                .map(|(i, c)| (Some(i), c)),
        );
        for (idx, comp) in comps {
            let seen = found.iter().any(|(_, _, fp)| *fp == comp.fingerprint);
            if !seen && claims.names(&comp.fingerprint, &comp.key_id) {
                found.push((cand, idx, &comp.fingerprint));
            }
        }
    }
    match found.as_slice() {
        [(cand, idx, _)] => Ok((cand, *idx)),
        [] => Err(unknown(claims)),
        many => Err(TrustError::AmbiguousIssuer {
            key_id: claims.display_key_id(),
            matches: many.iter().map(|(_, _, fp)| fp.to_string()).collect(),
        }),
    }
}

/// Check the signature of the chosen component over `signed_data`, streaming it.
fn verify_with(
    (cand, component): (&Candidate, Option<usize>),
    claims: &sig::Claims,
    signed_data: impl Read,
    now: SystemTime,
) -> Result<Signer, TrustError> {
    let comp = component.map_or(&cand.ev.primary, |i| &cand.ev.subkeys[i]);
    check_usable(&cand.ev.primary, comp, claims.created, now)?;
    let mut reader = sig::TrackingReader::new(signed_data);
    let result = match component {
        None => claims.sig.verify(&cand.ev.key.primary_key, &mut reader),
        Some(i) => claims
            .sig
            .verify(&cand.ev.key.public_subkeys[i].key, &mut reader),
    };
    if let Some(source) = reader.error.take() {
        return Err(TrustError::ReadData { source });
    }
    result.map_err(|e| TrustError::BadSignature {
        fingerprint: comp.fingerprint.clone(),
        reason: e.to_string(),
    })?;
    Ok(Signer {
        fingerprint: cand.ev.primary.fingerprint.clone(),
        signing_key: comp.fingerprint.clone(),
        scope: cand.scope.clone(),
        location: cand.file.location,
        path: cand.file.path.clone(),
        user_ids: cand.ev.user_ids.clone(),
        signed_at: claims.created.into(),
    })
}

/// Refuse a signing component (and its primary) that cannot sign at `now`.
fn check_usable(
    primary: &Component,
    comp: &Component,
    signed: SystemTime,
    now: SystemTime,
) -> Result<(), TrustError> {
    for c in [primary, comp] {
        if let Some(reason) = &c.revoked {
            let fingerprint = c.fingerprint.clone();
            return Err(TrustError::Revoked {
                fingerprint,
                reason: reason.clone(),
            });
        }
        if let Some(at) = c.expired_at(now) {
            return Err(TrustError::Expired {
                fingerprint: c.fingerprint.clone(),
                expired: at.into(),
            });
        }
    }
    let not_signing = |reason: &str| TrustError::NotSigningKey {
        fingerprint: comp.fingerprint.clone(),
        reason: reason.into(),
    };
    if !primary.bound {
        return Err(not_signing("the key has no valid self-signature"));
    }
    if !comp.bound {
        return Err(not_signing(
            "the subkey has no valid binding to its primary key",
        ));
    }
    if !comp.can_sign {
        return Err(not_signing(
            "it is not flagged for signing (or, for a subkey, lacks a valid back-signature)",
        ));
    }
    if signed < comp.created {
        return Err(TrustError::BadSignature {
            fingerprint: comp.fingerprint.clone(),
            reason: "the signature claims to predate its key".into(),
        });
    }
    Ok(())
}

/// Read, parse and judge a key file, checking it holds the key its name says.
fn load_key_file(file: &KeyFile) -> Result<Evaluated, TrustError> {
    let corrupt = |reason: String| TrustError::CorruptKeyFile {
        path: file.path.clone(),
        reason,
    };
    let bytes = layout::read_limited(&file.path, key::MAX_KEY_BYTES)?;
    let ev = key::evaluate(key::parse_key(&bytes).map_err(corrupt)?);
    if ev.primary.fingerprint != file.fingerprint {
        return Err(corrupt(format!(
            "holds key {}, not the one its name says",
            ev.primary.fingerprint
        )));
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> AcIdentifier {
        AcIdentifier::new(s).unwrap()
    }

    #[test]
    fn prefixes_are_whole_components_longest_first() {
        let got: Vec<String> = prefixes_of(&id("example.com/app/x"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["example.com/app/x", "example.com/app", "example.com"]);
        assert_eq!(prefixes_of(&id("busybox")), vec![id("busybox")]);
    }

    #[test]
    fn scope_covers_by_component() {
        let app = Scope::Prefix(id("example.com/app"));
        assert!(app.covers(&id("example.com/app")));
        assert!(app.covers(&id("example.com/app/x")));
        assert!(!app.covers(&id("example.com/apple")));
        assert!(!app.covers(&id("example.com")));
        assert!(Scope::Root.covers(&id("anything")));
    }

    proptest::proptest! {
        #[test]
        fn every_prefix_covers_the_name(parts in proptest::collection::vec("[a-z][a-z0-9]{0,5}", 1..5)) {
            let name = id(&parts.join("/"));
            for p in prefixes_of(&name) {
                proptest::prop_assert!(Scope::Prefix(p).covers(&name));
            }
        }
    }
}
