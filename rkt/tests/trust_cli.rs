//! `rkt trust`: adding keys (with the review rules), listing and removing them.

mod support;

use support::{Gpg, TestEnv};

/// A fresh key exported to `<work>/key.pub`; returns (gpg, fingerprint, key path).
fn key(env: &TestEnv) -> (Gpg, String, String) {
    let gpg = Gpg::new();
    let fp = gpg.new_key("Alice Publisher <alice@example.com>");
    let path = env.work().join("key.pub");
    gpg.export_to(&fp, &path);
    (gpg, fp, path.display().to_string())
}

fn trusted_files(env: &TestEnv) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    count(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }
    count(&env.local_config().join("trustedkeys"))
}

#[test]
fn without_a_terminal_the_review_flag_is_required() {
    let env = TestEnv::new();
    let (_gpg, _fp, path) = key(&env);
    let err = env
        .rkt(&["trust", "--prefix=example.com/app", &path])
        .failed()
        .to_string();
    assert!(err.contains("--skip-fingerprint-review"), "{err}");
    assert_eq!(trusted_files(&env), 0);
}

#[test]
fn exactly_one_of_prefix_and_root() {
    let env = TestEnv::new();
    let (_gpg, _fp, path) = key(&env);
    let skip = "--skip-fingerprint-review";
    let err = env.rkt(&["trust", skip, &path]).failed().to_string();
    assert!(err.contains("--prefix") && err.contains("--root"), "{err}");
    env.rkt(&["trust", skip, "--root", "--prefix=example.com", &path])
        .failed();
    env.rkt(&["trust", skip, "--prefix=Not Valid", &path])
        .failed();
    assert_eq!(trusted_files(&env), 0);
}

#[test]
fn root_key_is_stored_under_root_d() {
    let env = TestEnv::new();
    let (_gpg, fp, path) = key(&env);
    let out = env
        .rkt(&["trust", "--root", "--skip-fingerprint-review", &path])
        .ok()
        .to_string();
    let stored = env.local_config().join("trustedkeys/root.d").join(&fp);
    assert!(stored.is_file());
    assert!(
        out.contains(&format!("Added root key at {stored:?}")),
        "{out}"
    );
}

#[test]
fn list_and_remove() {
    let env = TestEnv::new();
    let (_gpg, fp, path) = key(&env);
    env.rkt(&[
        "trust",
        "--prefix=example.com/app",
        "--skip-fingerprint-review",
        &path,
    ])
    .ok();
    let out = env.rkt(&["trust", "--list"]).ok().to_string();
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    for col in ["FINGERPRINT", "SCOPE", "LOCATION", "IDENTITIES"] {
        assert!(header.contains(col), "{out}");
    }
    let row = lines.next().expect("one key listed");
    assert!(row.contains(&fp), "{out}");
    assert!(row.contains("example.com/app"), "{out}");
    assert!(row.contains("alice@example.com"), "{out}");

    // Removing needs the scope it was trusted for.
    env.rkt(&["trust", "--remove", &fp[..16], "--root"])
        .failed();
    let out = env
        .rkt(&["trust", "--remove", &fp[..16], "--prefix=example.com/app"])
        .ok()
        .to_string();
    assert!(out.contains(&fp), "{out}");
    assert_eq!(trusted_files(&env), 0);
    let out = env.rkt(&["trust", "--list"]).ok().to_string();
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn bad_inputs_name_the_key() {
    let env = TestEnv::new();
    let skip = "--skip-fingerprint-review";
    let junk = env.work().join("junk.pub");
    std::fs::write(&junk, b"not a key").unwrap();
    let junk = junk.display().to_string();
    let err = env
        .rkt(&["trust", "--root", skip, &junk])
        .failed()
        .to_string();
    assert!(err.contains("junk.pub"), "{err}");
    let url = "https://example.com/key.gpg";
    let err = env
        .rkt(&["trust", "--root", skip, url])
        .failed()
        .to_string();
    // No network in this test: the failure names the key's URL (trust_https.rs serves keys).
    assert!(err.contains(url), "{err}");
    let err = env
        .rkt(&["trust", "--prefix=example.com/app", skip])
        .failed()
        .to_string();
    assert!(err.contains("example.com/app"), "{err}");
    assert_eq!(trusted_files(&env), 0);
}

/// Run `rkt trust` on a pseudo-terminal (util-linux `script`), typing `answers`.
fn trust_on_tty(env: &TestEnv, key: &str, answers: &str) -> (i32, String) {
    use std::io::Write;
    let cmd = env.command(&["trust", "--prefix=example.com/app", key]);
    let mut line = shell_quote(cmd.get_program().to_str().unwrap());
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(arg.to_str().unwrap()));
    }
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn review_on_a_terminal_shows_the_fingerprint_and_asks() {
    let env = TestEnv::new();
    let (_gpg, fp, path) = key(&env);
    let (code, out) = trust_on_tty(&env, &path, "maybe\nno\n");
    assert_eq!(code, 254, "{out}");
    let grouped: Vec<String> = fp
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    assert!(out.contains(&grouped.join(" ")), "{out}");
    assert!(out.contains("Alice Publisher <alice@example.com>"), "{out}");
    assert!(
        out.contains("Are you sure you want to trust this key (yes/no)?"),
        "{out}"
    );
    assert_eq!(trusted_files(&env), 0);

    let (code, out) = trust_on_tty(&env, &path, "yes\n");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Added key for prefix \"example.com/app\""),
        "{out}"
    );
    assert_eq!(trusted_files(&env), 1);
}
