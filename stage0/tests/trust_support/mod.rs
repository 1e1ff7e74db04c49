//! Real keys and signatures for the trust tests, made with GnuPG in a throw-away GNUPGHOME.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use aci::types::AcIdentifier;
use stage0::trust::Keystore;

pub fn id(s: &str) -> AcIdentifier {
    AcIdentifier::new(s).unwrap()
}

/// A keystore whose system and local dirs live in a temp dir.
pub struct Store {
    pub dir: tempfile::TempDir,
    pub ks: Keystore,
}

impl Store {
    pub fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keystore::new(dir.path().join("usr-lib-rkt"), dir.path().join("etc-rkt"));
        Store { dir, ks }
    }

    /// Put a file straight into the store, bypassing `store_*` (keys that went bad later, or
    /// vendor keys in the system dir). `scope` is `"root.d"` or `"prefix.d/<prefix>"`.
    pub fn put(&self, config: &Path, scope: &str, name: &str, body: &[u8]) -> PathBuf {
        let d = config.join("trustedkeys").join(scope);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }
}

pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Drop for Gpg {
    fn drop(&mut self) {
        // Stop the agent this home started; ignore failure, the temp dir goes anyway.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

impl Gpg {
    pub fn new() -> Gpg {
        let home = tempfile::Builder::new()
            .prefix("g")
            .tempdir_in("/tmp")
            .unwrap();
        Gpg { home }
    }

    pub fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("gpg must be installed (Debian package gnupg; `make deps`)");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Fingerprints (lowercase) of the key listed for `who`: the primary first, then subkeys.
    pub fn fingerprints(&self, who: &str) -> Vec<String> {
        let out = self.run(&["--with-colons", "--list-keys", who]);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap().to_ascii_lowercase())
            .collect()
    }

    /// Make a key; `faked` is a gpg time such as `20200101T000000`.
    pub fn make_key(
        &self,
        uid: &str,
        algo: &str,
        usage: &str,
        expire: &str,
        faked: Option<&str>,
    ) -> String {
        let mut args = vec![];
        if let Some(t) = faked {
            args.extend(["--faked-system-time", t]);
        }
        args.extend(["--quick-gen-key", uid, algo, usage, expire]);
        self.run(&args);
        self.fingerprints(&format!("={uid}"))[0].clone()
    }

    /// An ed25519 signing key that never expires.
    pub fn ed25519(&self, uid: &str) -> String {
        self.make_key(uid, "ed25519", "sign", "never", None)
    }

    /// Add a subkey and return its fingerprint.
    pub fn add_subkey(&self, fp: &str, algo: &str, usage: &str) -> String {
        self.run(&["--quick-add-key", fp, algo, usage, "never"]);
        self.fingerprints(fp).last().unwrap().clone()
    }

    pub fn export(&self, fp: &str) -> Vec<u8> {
        self.run(&["--armor", "--export", fp])
    }

    pub fn export_secret(&self, fp: &str) -> Vec<u8> {
        self.run(&["--armor", "--export-secret-keys", fp])
    }

    /// An armored detached signature over `data` by exactly the key `fp` (primary or subkey).
    pub fn sign(&self, fp: &str, data: &[u8], extra: &[&str]) -> Vec<u8> {
        let input = self.home.path().join("data");
        std::fs::write(&input, data).unwrap();
        self.sign_file(fp, &input, extra)
    }

    pub fn sign_file(&self, fp: &str, input: &Path, extra: &[&str]) -> Vec<u8> {
        let out = self.home.path().join("data.asc");
        let _ = std::fs::remove_file(&out);
        let user = format!("{fp}!");
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["--armor", "--detach-sign", "-u", &user, "-o"]);
        args.push(out.to_str().unwrap());
        args.push(input.to_str().unwrap());
        self.run(&args);
        std::fs::read(out).unwrap()
    }

    /// Revoke subkey number `n` (1-based, as `gpg --edit-key` counts) through the edit menu.
    pub fn revoke_subkey(&self, fp: &str, n: usize) {
        use std::io::Write;
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(["--command-fd", "0", "--edit-key", fp])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let script = format!("key {n}\nrevkey\ny\n0\n\ny\nsave\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// Revoke the key with the revocation certificate gpg made when it created the key.
    pub fn revoke(&self, fp: &str) {
        let rev = self
            .home
            .path()
            .join("openpgp-revocs.d")
            .join(format!("{}.rev", fp.to_uppercase()));
        // gpg guards the stored certificate with a leading ':' against accidental import.
        let text = std::fs::read_to_string(&rev)
            .unwrap()
            .replace(":-----BEGIN", "-----BEGIN");
        let fixed = self.home.path().join("rev.asc");
        std::fs::write(&fixed, text).unwrap();
        self.run(&["--import", fixed.to_str().unwrap()]);
    }
}
