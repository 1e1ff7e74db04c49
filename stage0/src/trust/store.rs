//! Changing and listing the trust store: adding keys (validated first, written atomically),
//! removing them (delete the local file, mask a system one), listing what is in force.

use std::fs;
use std::io;
use std::time::SystemTime;

use aci::types::AcIdentifier;

use super::key::{self, Evaluated};
use super::layout;
use super::{Keystore, RemovedKey, Scope, StoredKey, TrustError, TrustedKey};

impl Keystore {
    /// Trust the armored key for images named by `prefix` or below it (whole components).
    pub fn store_prefix_key(
        &self,
        prefix: &AcIdentifier,
        armored: &[u8],
    ) -> Result<StoredKey, TrustError> {
        self.store(Scope::Prefix(prefix.clone()), armored)
    }

    /// Trust the armored key for every image.
    pub fn store_root_key(&self, armored: &[u8]) -> Result<StoredKey, TrustError> {
        self.store(Scope::Root, armored)
    }

    fn store(&self, scope: Scope, armored: &[u8]) -> Result<StoredKey, TrustError> {
        let parsed = key::parse_key(armored).map_err(|reason| TrustError::InvalidKey { reason })?;
        let ev = key::evaluate(parsed);
        check_storable(&ev, SystemTime::now())?;
        let body = key::armor(&ev.key).map_err(|reason| TrustError::InvalidKey { reason })?;
        let dir = layout::scope_dir(&self.local, &scope);
        layout::create_dirs(&dir)?;
        let path = layout::write_atomic(&dir, &ev.primary.fingerprint, &body)?;
        Ok(StoredKey {
            fingerprint: ev.primary.fingerprint,
            user_ids: ev.user_ids,
            scope,
            path,
        })
    }

    /// Stop trusting the key whose fingerprint starts with `fingerprint` (8 to 40 hex digits,
    /// spaces and `0x` allowed) for `prefix`, or as a root key when `prefix` is `None`. A local
    /// file is deleted; a system file, which this side must not edit, is masked by an empty
    /// local file.
    pub fn remove_key(
        &self,
        fingerprint: &str,
        prefix: Option<&AcIdentifier>,
    ) -> Result<RemovedKey, TrustError> {
        let query = layout::normalize_fingerprint_query(fingerprint).ok_or_else(|| {
            TrustError::BadFingerprint {
                value: fingerprint.to_string(),
            }
        })?;
        let scope = prefix.map_or(Scope::Root, |p| Scope::Prefix(p.clone()));
        let mut matches: Vec<String> = layout::read_scope(&self.system, &self.local, &scope)?
            .into_iter()
            .map(|f| f.fingerprint)
            .filter(|fp| fp.starts_with(&query))
            .collect();
        matches.dedup();
        let fp = match matches.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(TrustError::KeyNotFound {
                    fingerprint: query,
                    scope,
                });
            }
            _ => {
                return Err(TrustError::AmbiguousFingerprint {
                    prefix: query,
                    scope,
                    matches,
                });
            }
        };
        let local_dir = layout::scope_dir(&self.local, &scope);
        let local_file = local_dir.join(&fp);
        let system_file = layout::scope_dir(&self.system, &scope).join(&fp);
        let mut removed = RemovedKey {
            fingerprint: fp.clone(),
            scope,
            deleted: None,
            masked: None,
        };
        match fs::remove_file(&local_file) {
            Ok(()) => {
                layout::sync_dir(&local_dir)?;
                removed.deleted = Some(local_file);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(TrustError::Io {
                    path: local_file,
                    action: "remove key file",
                    source,
                });
            }
        }
        if system_file.is_file() {
            layout::create_dirs(&local_dir)?;
            removed.masked = Some(layout::write_atomic(&local_dir, &fp, b"")?);
        }
        Ok(removed)
    }

    /// Every key in force, root keys first, then by prefix; unusable ones say why.
    pub fn list(&self) -> Result<Vec<TrustedKey>, TrustError> {
        let mut scopes = vec![Scope::Root];
        scopes.extend(
            layout::prefixes(&self.system, &self.local)?
                .into_iter()
                .map(Scope::Prefix),
        );
        let now = SystemTime::now();
        let mut out = Vec::new();
        for scope in scopes {
            for file in layout::read_scope(&self.system, &self.local, &scope)? {
                let (user_ids, problem) = match super::load_key_file(&file) {
                    Ok(ev) => {
                        let problem = check_storable(&ev, now).err().map(|e| e.to_string());
                        (ev.user_ids, problem)
                    }
                    Err(e) => (Vec::new(), Some(e.to_string())),
                };
                out.push(TrustedKey {
                    fingerprint: file.fingerprint,
                    user_ids,
                    scope: scope.clone(),
                    location: file.location,
                    path: file.path,
                    problem,
                });
            }
        }
        Ok(out)
    }
}

/// A key worth trusting: self-signed, not revoked or expired, and with a component that can
/// sign now.
fn check_storable(ev: &Evaluated, now: SystemTime) -> Result<(), TrustError> {
    let p = &ev.primary;
    if !p.bound {
        return Err(TrustError::InvalidKey {
            reason: format!("key {} has no valid self-signature", p.fingerprint),
        });
    }
    if let Some(reason) = &p.revoked {
        return Err(TrustError::Revoked {
            fingerprint: p.fingerprint.clone(),
            reason: reason.clone(),
        });
    }
    if let Some(at) = p.expired_at(now) {
        return Err(TrustError::Expired {
            fingerprint: p.fingerprint.clone(),
            expired: at.into(),
        });
    }
    if !p.usable(now) && !ev.subkeys.iter().any(|s| s.usable(now)) {
        return Err(TrustError::NoSigningKey {
            fingerprint: p.fingerprint.clone(),
            reason: "neither the primary key nor any live, bound subkey is flagged for signing"
                .into(),
        });
    }
    Ok(())
}
