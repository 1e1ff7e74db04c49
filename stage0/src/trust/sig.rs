//! Detached signatures: parsing one, checking what it claims before any data is read, and
//! verifying it over a stream (rPGP hashes the reader in 8 KiB steps; nothing is buffered).

use std::io::{self, Read};
use std::time::{Duration, SystemTime};

use pgp::composed::{Deserializable, DetachedSignature};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType, SignatureVersion};

use super::TrustError;

/// A detached signature is a few hundred bytes; anything past this is hostile.
pub(crate) const MAX_SIGNATURE_BYTES: usize = 64 * 1024;

/// How far in the future a signature's creation time may lie (clocks drift).
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// What a signature claims, checked and ready for the key lookup.
#[derive(Debug)]
pub(crate) struct Claims {
    pub sig: Signature,
    pub created: SystemTime,
    /// Issuer fingerprints (lowercase hex) and key IDs (16 hex) named by the signature.
    pub issuer_fingerprints: Vec<String>,
    pub issuer_key_ids: Vec<String>,
}

impl Claims {
    /// The key ID to show a person: the one named, or the low 64 bits of the fingerprint.
    pub fn display_key_id(&self) -> String {
        if let Some(id) = self.issuer_key_ids.first() {
            return id.clone();
        }
        match self.issuer_fingerprints.first() {
            Some(fp) if fp.len() >= 16 => fp[fp.len() - 16..].to_string(),
            _ => "(none named)".into(),
        }
    }

    pub fn names(&self, fingerprint: &str, key_id: &str) -> bool {
        self.issuer_fingerprints.iter().any(|f| f == fingerprint)
            || self.issuer_key_ids.iter().any(|k| k == key_id)
    }
}

fn malformed(reason: impl Into<String>) -> TrustError {
    TrustError::MalformedSignature {
        reason: reason.into(),
    }
}

/// Parse exactly one detached signature from armor.
pub(crate) fn parse(armored: &[u8]) -> Result<Signature, TrustError> {
    if armored.len() > MAX_SIGNATURE_BYTES {
        return Err(malformed(format!(
            "{} bytes, over the {MAX_SIGNATURE_BYTES}-byte limit",
            armored.len()
        )));
    }
    // The parser reads the first armor block only; a second one would go unseen.
    if super::key::count(armored, b"-----BEGIN PGP") > 1 {
        return Err(TrustError::UnsupportedSignature {
            reason: "the file holds more than one armor block; exactly one signature is expected"
                .into(),
        });
    }
    let (mut sigs, _) = DetachedSignature::from_armor_many(armored)
        .map_err(|e| malformed(format!("not an armored OpenPGP signature: {e}")))?;
    let sig = match sigs.next() {
        Some(Ok(s)) => s.signature,
        Some(Err(e)) => return Err(malformed(format!("cannot parse: {e}"))),
        None => return Err(malformed("the armor holds no signature")),
    };
    if sigs.next().is_some() {
        return Err(TrustError::UnsupportedSignature {
            reason: "the file holds more than one signature; exactly one is expected".into(),
        });
    }
    Ok(sig)
}

/// Refuse what is wrong with the signature itself, before a key is looked up or data is read.
pub(crate) fn check(sig: Signature, now: SystemTime) -> Result<Claims, TrustError> {
    let unsupported = |reason: String| TrustError::UnsupportedSignature { reason };
    if !matches!(sig.version(), SignatureVersion::V4 | SignatureVersion::V6) {
        return Err(unsupported(format!(
            "version {:?} signatures are not accepted",
            sig.version()
        )));
    }
    if sig.typ() != Some(SignatureType::Binary) {
        return Err(unsupported(format!(
            "signature type {:?}; an image needs a binary-document signature (gpg --detach-sign)",
            sig.typ()
        )));
    }
    let hash = sig.hash_alg().unwrap_or(HashAlgorithm::None);
    match hash {
        HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160 => {
            return Err(TrustError::WeakHash {
                algorithm: hash.to_string(),
            });
        }
        HashAlgorithm::Sha224
        | HashAlgorithm::Sha256
        | HashAlgorithm::Sha384
        | HashAlgorithm::Sha512
        | HashAlgorithm::Sha3_256
        | HashAlgorithm::Sha3_512 => {}
        other => return Err(unsupported(format!("unknown hash algorithm {other:?}"))),
    }
    let created = sig
        .created()
        .map(SystemTime::from)
        .ok_or_else(|| unsupported("no hashed creation time".into()))?;
    if created > now + CLOCK_SKEW {
        return Err(TrustError::FutureSignature {
            created: created.into(),
            now: now.into(),
        });
    }
    if let Some(d) = sig.signature_expiration_time().filter(|d| d.as_secs() != 0) {
        let until = created + Duration::from_secs(u64::from(d.as_secs()));
        if until <= now {
            return Err(TrustError::SignatureExpired {
                expired: until.into(),
            });
        }
    }
    let issuer_fingerprints = sig
        .issuer_fingerprint()
        .iter()
        .map(|f| hex::encode(f.as_bytes()))
        .collect();
    let issuer_key_ids: Vec<String> = sig.issuer_key_id().iter().map(|k| k.to_string()).collect();
    let claims = Claims {
        issuer_fingerprints,
        issuer_key_ids,
        created,
        sig,
    };
    if claims.issuer_fingerprints.is_empty() && claims.issuer_key_ids.is_empty() {
        return Err(unsupported("the signature names no issuer key".into()));
    }
    Ok(claims)
}

/// Passes reads through and keeps the first I/O error, so a failing reader is reported as
/// such and not as a bad signature.
pub(crate) struct TrackingReader<R> {
    inner: R,
    pub error: Option<io::Error>,
}

impl<R: Read> TrackingReader<R> {
    pub fn new(inner: R) -> Self {
        TrackingReader { inner, error: None }
    }
}

impl<R: Read> Read for TrackingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.error.get_or_insert(e);
                Err(copy)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_oversize_and_garbage() {
        let big = vec![b'x'; MAX_SIGNATURE_BYTES + 1];
        assert!(matches!(
            parse(&big),
            Err(TrustError::MalformedSignature { .. })
        ));
        assert!(matches!(
            parse(b"nope"),
            Err(TrustError::MalformedSignature { .. })
        ));
    }

    #[test]
    fn tracking_reader_keeps_the_error() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut r = TrackingReader::new(Failing);
        let mut buf = [0u8; 4];
        assert!(r.read(&mut buf).is_err());
        assert_eq!(r.error.unwrap().to_string(), "disk on fire");
    }
}
