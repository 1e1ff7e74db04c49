//! `/pod/hmac/{sign,verify}`: HMAC-SHA512 over `uuid bytes ‖ content` (rkt's layout), base64
//! (standard alphabet) on the wire. The key lives in a 0600 file under the service's data dir
//! so that signatures made before a restart still verify after it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use aci::manifest::Uuid;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha512;

use super::{MetadataError, Result, io_err};

type HmacSha512 = Hmac<Sha512>;

const KEY_LEN: usize = 64;

#[derive(Clone)]
pub struct Key([u8; KEY_LEN]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn from_bytes(b: [u8; KEY_LEN]) -> Key {
        Key(b)
    }

    /// The key in `dir/hmac.key`, created (random, 0600, dir 0700) when missing.
    pub fn load_or_create(dir: &Path) -> Result<Key> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err("create", dir))?;
        let path = dir.join("hmac.key");
        match std::fs::read(&path) {
            Ok(b) => {
                let key: [u8; KEY_LEN] = b.try_into().map_err(|_| MetadataError::Io {
                    action: "use the key in",
                    path: path.clone(),
                    source: std::io::Error::other(format!(
                        "not {KEY_LEN} bytes: delete it to get a new key"
                    )),
                })?;
                return Ok(Key(key));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("read", &path)(e)),
        }
        let mut key = [0u8; KEY_LEN];
        let random = "/dev/urandom";
        let mut f = std::fs::File::open(random).map_err(io_err("open", random))?;
        std::io::Read::read_exact(&mut f, &mut key).map_err(io_err("read", random))?;
        let tmp = dir.join(".hmac.key.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        out.write_all(&key).map_err(io_err("write", &tmp))?;
        out.sync_all().map_err(io_err("sync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("rename into place", &path))?;
        Ok(Key(key))
    }

    fn mac(&self, uuid: &Uuid, content: &[u8]) -> HmacSha512 {
        // Any key length is valid for HMAC; new_from_slice cannot fail here.
        let mut mac = match HmacSha512::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(uuid.as_bytes());
        mac.update(content);
        mac
    }

    /// The base64 signature of `content` for the pod `uuid`.
    pub fn sign(&self, uuid: &Uuid, content: &[u8]) -> String {
        STANDARD.encode(self.mac(uuid, content).finalize().into_bytes())
    }

    /// Whether `signature` (base64) signs `content` for `uuid` (constant-time compare).
    pub fn verify(&self, uuid: &Uuid, content: &[u8], signature: &str) -> bool {
        let Ok(raw) = STANDARD.decode(signature.trim()) else {
            return false;
        };
        self.mac(uuid, content).verify_slice(&raw).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_forgeries_fail() {
        let key = Key::from_bytes([3; KEY_LEN]);
        let a = Uuid::from_bytes([1; 16]);
        let b = Uuid::from_bytes([2; 16]);
        let sig = key.sign(&a, b"hello");
        assert!(key.verify(&a, b"hello", &sig));
        assert!(!key.verify(&b, b"hello", &sig), "another pod's uuid");
        assert!(!key.verify(&a, b"hellO", &sig), "other content");
        assert!(!key.verify(&a, b"hello", "bm90IGEgc2lnbmF0dXJl"));
        assert!(!key.verify(&a, b"hello", "%%%"));
        let other = Key::from_bytes([4; KEY_LEN]);
        assert!(!other.verify(&a, b"hello", &sig), "another key");
    }

    #[test]
    fn key_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mds");
        let k1 = Key::load_or_create(&dir).unwrap();
        let k2 = Key::load_or_create(&dir).unwrap();
        assert_eq!(k1.0, k2.0);
        let mode = std::fs::metadata(dir.join("hmac.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.join("hmac.key"), b"short").unwrap();
        assert!(Key::load_or_create(&dir).is_err());
    }
}
