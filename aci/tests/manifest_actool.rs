//! The Go reference validator judges what we write: manifests we serialise are written to temp
//! files and `actool validate FILE` (Debian package appc-spec) must accept them. actool detects
//! the kind from the JSON's `acKind`, so the file name does not matter. A deliberately broken
//! manifest must be refused, so the test would notice an actool that accepts anything.

mod manifest_gen;

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};

const ACTOOL: &str = "/usr/bin/actool";

fn actool() -> Option<PathBuf> {
    let p = PathBuf::from(ACTOOL);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: needs {ACTOOL} (Debian package appc-spec)");
        None
    }
}

/// Run `actool validate` on `bytes`; Ok(()) if accepted, Err(output) if not.
fn validate(tool: &Path, dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(tool)
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

/// Draw `n` values from a strategy with a fixed seed (deterministic, no shrinking needed here).
fn samples<S: Strategy>(s: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    (0..n)
        .map(|_| s.new_tree(&mut runner).unwrap().current())
        .collect()
}

#[test]
fn actool_accepts_what_we_write() {
    let Some(tool) = actool() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (i, m) in samples(manifest_gen::image_manifest(), 40)
        .into_iter()
        .enumerate()
    {
        let bytes = m.to_string_pretty().unwrap();
        if let Err(e) = validate(
            &tool,
            dir.path(),
            &format!("image{i}.json"),
            bytes.as_bytes(),
        ) {
            panic!("actool refused our image manifest:\n{bytes}\n{e}");
        }
    }
    for (i, p) in samples(manifest_gen::pod_manifest(), 40)
        .into_iter()
        .enumerate()
    {
        let bytes = p.to_vec().unwrap();
        if let Err(e) = validate(&tool, dir.path(), &format!("pod{i}.json"), &bytes) {
            panic!(
                "actool refused our pod manifest:\n{}\n{e}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}

#[test]
fn actool_accepts_a_manifest_named_manifest() {
    let Some(tool) = actool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let m = aci::manifest::ImageManifest::new("example.com/app".parse().unwrap());
    validate(&tool, dir.path(), "manifest", &m.to_vec().unwrap()).unwrap();
}

#[test]
fn actool_refuses_a_broken_manifest() {
    let Some(tool) = actool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bad = br#"{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "Not A Valid Name"}"#;
    assert!(validate(&tool, dir.path(), "bad.json", bad).is_err());
    let bad_pod = br#"{"acKind": "PodManifest", "acVersion": "0.8.11",
        "volumes": [{"name": "v", "kind": "host", "source": "relative"}]}"#;
    assert!(validate(&tool, dir.path(), "badpod.json", bad_pod).is_err());
}
