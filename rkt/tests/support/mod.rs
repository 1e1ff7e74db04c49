//! Shared support for the functional tests that run the real `rkt` binary: a [`TestEnv`] with
//! its own data and config dirs, an [`Image`] builder for real ACIs, and [`Gpg`] for real keys
//! and signatures in a throw-away GNUPGHOME. Each test file includes it with `mod support;`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aci::archive::{Compression, write_aci_entries};
use aci::entry::{EntryHeader, EntryKind};
use sha2::{Digest, Sha512};

/// The outcome of one `rkt` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Assert success and return stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "rkt failed: {self:#?}");
        &self.stdout
    }

    /// Assert rkt's failure code (254) and return stderr.
    #[track_caller]
    pub fn failed(&self) -> &str {
        assert_eq!(self.code, 254, "rkt should have failed with 254: {self:#?}");
        &self.stderr
    }
}

/// A private rkt world: `--dir`, `--local-config` and `--system-config` in one temp dir.
pub struct TestEnv {
    pub root: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let root = tempfile::tempdir().expect("temp dir");
        for d in ["data", "etc-rkt", "usr-lib-rkt", "work"] {
            std::fs::create_dir_all(root.path().join(d)).expect("creating test dirs");
        }
        TestEnv { root }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn local_config(&self) -> PathBuf {
        self.root.path().join("etc-rkt")
    }

    pub fn system_config(&self) -> PathBuf {
        self.root.path().join("usr-lib-rkt")
    }

    /// A scratch dir for the test's own files (images, keys, signatures).
    pub fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// `rkt` with this env's dirs and no stdin (so never a terminal).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rkt"));
        cmd.arg(format!("--dir={}", self.data_dir().display()))
            .arg(format!("--local-config={}", self.local_config().display()))
            .arg(format!(
                "--system-config={}",
                self.system_config().display()
            ))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub fn rkt(&self, args: &[&str]) -> Run {
        Run::from_output(self.command(args).output().expect("running rkt"))
    }

    /// The store keys of every blob in the image store (`cas/blob/sha512/<2>/<key>`).
    pub fn blobs(&self) -> Vec<String> {
        let base = self.data_dir().join("cas/blob/sha512");
        let mut out = Vec::new();
        for shard in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            for blob in std::fs::read_dir(shard.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                out.push(blob.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        out
    }
}

/// An image to build: a manifest from its parts and a few rootfs entries.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub labels: Vec<(String, String)>,
    /// `(imageName, labels)` of each dependency.
    pub dependencies: Vec<(String, Vec<(String, String)>)>,
    pub files: Vec<(String, Vec<u8>)>,
}

/// What [`Image::write`] made.
#[derive(Debug, Clone)]
pub struct Built {
    pub path: PathBuf,
    /// `sha512-` + 128 hex of the uncompressed tar, computed here, not by `aci`.
    pub id: String,
}

impl Built {
    /// The store key: `sha512-` + the first 64 hex digits.
    pub fn key(&self) -> String {
        self.id[..7 + 64].to_string()
    }

    /// What `rkt fetch` prints without `--full`.
    pub fn short_id(&self) -> String {
        self.id[..7 + 32].to_string()
    }
}

impl Image {
    /// An image for the host's OS and architecture with one file.
    pub fn new(name: &str) -> Image {
        let (os, arch) = aci::discovery::host_os_arch();
        Image {
            name: name.to_string(),
            labels: vec![("os".into(), os.into()), ("arch".into(), arch.into())],
            dependencies: Vec::new(),
            files: vec![("hello.txt".into(), format!("I am {name}\n").into_bytes())],
        }
    }

    pub fn label(mut self, name: &str, value: &str) -> Image {
        self.labels.retain(|(n, _)| n != name);
        self.labels.push((name.into(), value.into()));
        self
    }

    pub fn without_label(mut self, name: &str) -> Image {
        self.labels.retain(|(n, _)| n != name);
        self
    }

    pub fn file(mut self, path: &str, data: &[u8]) -> Image {
        self.files.push((path.into(), data.to_vec()));
        self
    }

    pub fn dependency(mut self, name: &str, labels: &[(&str, &str)]) -> Image {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.dependencies.push((name.into(), labels));
        self
    }

    pub fn manifest_json(&self) -> String {
        let labels = |ls: &[(String, String)]| -> Vec<serde_json::Value> {
            ls.iter()
                .map(|(n, v)| serde_json::json!({"name": n, "value": v}))
                .collect()
        };
        let mut m = serde_json::json!({
            "acKind": "ImageManifest",
            "acVersion": "0.8.11",
            "name": self.name,
            "labels": labels(&self.labels),
        });
        if !self.dependencies.is_empty() {
            m["dependencies"] = self
                .dependencies
                .iter()
                .map(|(n, ls)| serde_json::json!({"imageName": n, "labels": labels(ls)}))
                .collect();
        }
        m.to_string()
    }

    /// The uncompressed ACI (a tar).
    pub fn tar(&self) -> Vec<u8> {
        let entries = self.files.iter().map(|(path, data)| {
            let header = EntryHeader {
                path: PathBuf::from(path),
                kind: EntryKind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 1_500_000_000,
                size: data.len() as u64,
                xattrs: Vec::new(),
            };
            (header, data.clone())
        });
        let mut out = Vec::new();
        write_aci_entries(
            self.manifest_json().as_bytes(),
            entries,
            &mut out,
            Compression::None,
        )
        .expect("building a test ACI");
        out
    }

    /// Write the image gzip-compressed to `path`; the ID is hashed from the tar independently.
    pub fn write(&self, path: &Path) -> Built {
        let tar = self.tar();
        let id = format!("sha512-{}", hex::encode(Sha512::digest(&tar)));
        let file = std::fs::File::create(path).expect("creating the test image");
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        gz.write_all(&tar).expect("writing the test image");
        gz.finish().expect("writing the test image");
        Built {
            path: path.to_path_buf(),
            id,
        }
    }
}

/// GnuPG in its own temp GNUPGHOME, for real keys and detached signatures.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Drop for Gpg {
    fn drop(&mut self) {
        // Stop the agent this home started; the temp dir goes anyway.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Gpg {
    pub fn new() -> Gpg {
        // Short path: the agent's socket path has a length limit.
        let home = tempfile::Builder::new()
            .prefix("g")
            .tempdir_in("/tmp")
            .expect("temp GNUPGHOME");
        Gpg { home }
    }

    pub fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
            .args(["--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg must be installed (Debian package gnupg)");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// A new ed25519 signing key for `uid`; returns its lowercase fingerprint.
    pub fn new_key(&self, uid: &str) -> String {
        self.run(&["--quick-gen-key", uid, "ed25519", "sign", "never"]);
        let out = self.run(&["--with-colons", "--list-keys", &format!("={uid}")]);
        String::from_utf8_lossy(&out)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("gpg lists the new key's fingerprint")
            .to_ascii_lowercase()
    }

    /// Export the armored public key into `path`.
    pub fn export_to(&self, fp: &str, path: &Path) {
        std::fs::write(path, self.run(&["--armor", "--export", fp])).expect("writing the key");
    }

    /// Write an armored detached signature of `input` by key `fp` to `sig`.
    pub fn sign_to(&self, fp: &str, input: &Path, sig: &Path) {
        let _ = std::fs::remove_file(sig);
        let user = format!("{fp}!");
        self.run(&[
            "--armor",
            "--detach-sign",
            "-u",
            &user,
            "-o",
            &sig.display().to_string(),
            &input.display().to_string(),
        ]);
    }
}

/// `<path>.asc`, where rkt looks for a file's signature.
pub fn asc_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".asc");
    PathBuf::from(s)
}

impl TestEnv {
    /// Trust the public key `fp` of `gpg` for `prefix` (or as a root key) through `rkt trust`.
    pub fn trust(&self, gpg: &Gpg, fp: &str, prefix: Option<&str>) {
        let key = self.work().join(format!("{fp}.pub"));
        gpg.export_to(fp, &key);
        let scope = match prefix {
            Some(p) => format!("--prefix={p}"),
            None => "--root".to_string(),
        };
        let key = key.display().to_string();
        self.rkt(&["trust", &scope, "--skip-fingerprint-review", &key])
            .ok();
    }
}
