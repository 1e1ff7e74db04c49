//! Rendering semantics (appc.md §4, security.md T16) on real directories.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aci::entry::{EntryHeader, EntryKind};
use aci::extract::{ExtractError, ExtractOptions};
use aci::render::{ImageDeps, Layer, RenderError, RenderStats, render, render_plan};

fn hdr(path: &str, kind: EntryKind, mode: u32) -> EntryHeader {
    EntryHeader {
        path: path.into(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_000,
        size: 0,
        xattrs: vec![],
    }
}

fn file(path: &str, data: &str) -> (EntryHeader, Vec<u8>) {
    let h = EntryHeader {
        size: data.len() as u64,
        ..hdr(path, EntryKind::File, 0o644)
    };
    (h, data.as_bytes().to_vec())
}

fn dir(path: &str) -> (EntryHeader, Vec<u8>) {
    (hdr(path, EntryKind::Dir, 0o755), vec![])
}

fn symlink(path: &str, target: &str) -> (EntryHeader, Vec<u8>) {
    (hdr(path, EntryKind::Symlink(target.into()), 0o777), vec![])
}

fn hardlink(path: &str, target: &str) -> (EntryHeader, Vec<u8>) {
    (hdr(path, EntryKind::HardLink(target.into()), 0o644), vec![])
}

/// Turn a list of entries into a `Layer` whose walk feeds them in order.
fn layer(
    name: &str,
    whitelists: &[&[&str]],
    whiteouts: &[&str],
    entries: Vec<(EntryHeader, Vec<u8>)>,
) -> Layer<'static> {
    Layer {
        name: name.to_string(),
        whitelists: whitelists
            .iter()
            .map(|w| w.iter().map(|s| s.to_string()).collect())
            .collect(),
        whiteouts: whiteouts.iter().map(PathBuf::from).collect(),
        walk: Box::new(move |sink| {
            for (h, data) in &entries {
                sink(h, &mut data.as_slice())?;
            }
            Ok(())
        }),
    }
}

fn opts() -> ExtractOptions {
    ExtractOptions::default()
}

fn go(layers: Vec<Layer<'static>>) -> (tempfile::TempDir, RenderStats) {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("rootfs")).unwrap();
    let stats = render(&tmp.path().join("rootfs"), layers, opts()).unwrap();
    (tmp, stats)
}

fn read(tmp: &tempfile::TempDir, p: &str) -> Option<String> {
    fs::read_to_string(tmp.path().join("rootfs").join(p)).ok()
}

fn exists(tmp: &tempfile::TempDir, p: &str) -> bool {
    fs::symlink_metadata(tmp.path().join("rootfs").join(p)).is_ok()
}

#[test]
fn upper_layer_wins() {
    let top = layer("top", &[], &[], vec![dir("etc"), file("etc/a", "top")]);
    let low = layer(
        "low",
        &[],
        &[],
        vec![dir("etc"), file("etc/a", "low"), file("etc/b", "low-b")],
    );
    let (tmp, stats) = go(vec![top, low]);
    assert_eq!(read(&tmp, "etc/a").as_deref(), Some("top"));
    assert_eq!(read(&tmp, "etc/b").as_deref(), Some("low-b"));
    assert_eq!(stats.overridden, 2);
    assert_eq!(stats.layers, 2);
}

#[test]
fn whitelist_is_exact_and_keeps_directories() {
    let entries = vec![
        dir("etc"),
        file("etc/a", "a"),
        file("etc/ab", "ab"),
        dir("bin"),
        file("bin/sh", "sh"),
        dir("usr"),
        dir("usr/share"),
        symlink("lnk", "etc/a"),
    ];
    let (tmp, stats) = go(vec![layer(
        "only",
        &[&["/etc/a", "/bin", "/lnk"]],
        &[],
        entries,
    )]);
    assert_eq!(read(&tmp, "etc/a").as_deref(), Some("a"));
    assert!(!exists(&tmp, "etc/ab"), "no prefix matching");
    assert!(
        !exists(&tmp, "bin/sh"),
        "a listed directory does not keep its files"
    );
    assert!(
        tmp.path().join("rootfs/usr/share").is_dir(),
        "directories are always kept"
    );
    assert!(exists(&tmp, "lnk"));
    assert_eq!(stats.not_whitelisted, 2);
}

#[test]
fn dependency_is_filtered_by_the_whitelists_above_it() {
    let top = layer("top", &[&["/x", "/y"]], &[], vec![file("y", "top-y")]);
    let dep = layer(
        "dep",
        &[&["/x", "/z"], &["/x", "/y"]],
        &[],
        vec![
            file("x", "dep-x"),
            file("y", "dep-y"),
            file("z", "dep-z"),
            file("w", "dep-w"),
        ],
    );
    let (tmp, _) = go(vec![top, dep]);
    assert_eq!(read(&tmp, "x").as_deref(), Some("dep-x"));
    assert_eq!(read(&tmp, "y").as_deref(), Some("top-y"));
    assert!(
        !exists(&tmp, "z"),
        "z is in dep's own whitelist but not in the top image's"
    );
    assert!(!exists(&tmp, "w"));
}

#[test]
fn parent_provided_as_non_dir_hides_lower_children() {
    let top = layer(
        "top",
        &[],
        &[],
        vec![
            dir("usr"),
            dir("usr/lib"),
            symlink("lib", "usr/lib"),
            file("etc", "a file"),
        ],
    );
    let low = layer(
        "low",
        &[],
        &[],
        vec![
            dir("lib"),
            file("lib/x", "x"),
            dir("etc"),
            file("etc/passwd", "p"),
        ],
    );
    let (tmp, stats) = go(vec![top, low]);
    assert!(
        fs::symlink_metadata(tmp.path().join("rootfs/lib"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        !exists(&tmp, "usr/lib/x"),
        "never written through the upper symlink"
    );
    assert_eq!(read(&tmp, "etc").as_deref(), Some("a file"));
    assert_eq!(stats.under_non_dir, 2);
    assert_eq!(stats.overridden, 2);
}

#[test]
fn lower_symlink_to_dir_is_replaced_by_upper_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let sentinel = tmp.path().join("sentinel");
    fs::create_dir(&sentinel).unwrap();
    fs::set_permissions(&sentinel, fs::Permissions::from_mode(0o700)).unwrap();
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir(&rootfs).unwrap();
    let top = layer("top", &[], &[], vec![dir("lib"), file("lib/a", "a")]);
    let low = layer(
        "low",
        &[],
        &[],
        vec![
            symlink("lib", "../sentinel"),
            file("lib/b", "b"),
            symlink("bin", "/"),
        ],
    );
    // A third layer writing under the middle layer's symlink is skipped, not followed.
    let lowest = layer("lowest", &[], &[], vec![file("bin/evil", "e")]);
    let stats = render(&rootfs, vec![top, low, lowest], opts()).unwrap();
    assert_eq!((stats.overridden, stats.under_non_dir), (1, 1));
    assert!(rootfs.join("lib").is_dir() && !rootfs.join("lib").is_symlink());
    assert_eq!(fs::read_to_string(rootfs.join("lib/b")).unwrap(), "b");
    assert_eq!(fs::read_dir(&sentinel).unwrap().count(), 0);
    assert_eq!(fs::metadata(&sentinel).unwrap().mode() & 0o7777, 0o700);
    assert!(!Path::new("/evil").exists());
}

#[test]
fn symlink_then_write_in_one_layer_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let l = layer(
        "bad",
        &[],
        &[],
        vec![symlink("x", "/"), file("x/etc/p", "p")],
    );
    let err = render(tmp.path(), vec![l], opts()).unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::Extract {
                source: ExtractError::ThroughSymlink { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(!Path::new("/etc/p").exists());
}

#[test]
fn whiteouts_hide_only_lower_layers() {
    let top = layer(
        "top",
        &[],
        &["a"],
        vec![file("a/top", "t"), file("t", "top-t")],
    );
    let mid = layer(
        "mid",
        &[],
        &["d"],
        vec![file("a/mid", "m"), file("d/mid", "keep")],
    );
    let low = layer(
        "low",
        &[],
        &["t"],
        vec![file("a/low", "l"), file("d/low", "l"), file("b", "b")],
    );
    let (tmp, stats) = go(vec![top, mid, low]);
    assert_eq!(
        read(&tmp, "a/top").as_deref(),
        Some("t"),
        "same-layer entries survive"
    );
    assert!(!exists(&tmp, "a/mid") && !exists(&tmp, "a/low"));
    assert_eq!(read(&tmp, "d/mid").as_deref(), Some("keep"));
    assert!(!exists(&tmp, "d/low"));
    assert_eq!(read(&tmp, "b").as_deref(), Some("b"));
    assert_eq!(
        read(&tmp, "t").as_deref(),
        Some("top-t"),
        "a lower whiteout never hides upper layers"
    );
    assert_eq!(stats.whited_out, 3);
}

#[test]
fn invalid_whiteouts_and_whitelists_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let l = layer("w", &[], &["../etc"], vec![]);
    assert!(matches!(
        render(tmp.path(), vec![l], opts()),
        Err(RenderError::Whiteout { .. })
    ));
    let l = layer("w", &[&["/../etc/passwd"]], &[], vec![]);
    assert!(matches!(
        render(tmp.path(), vec![l], opts()),
        Err(RenderError::Whitelist { .. })
    ));
    let l = layer("w", &[], &[], vec![file("../x", "x")]);
    assert!(matches!(
        render(tmp.path(), vec![l], opts()),
        Err(RenderError::Entry { .. })
    ));
}

#[test]
fn dangling_hard_links_are_skipped() {
    let top = layer("top", &[], &[], vec![file("shared", "top")]);
    let low = layer(
        "low",
        &[&[
            "/keep",
            "/link-to-filtered",
            "/link-to-overridden",
            "/link-ok",
        ]],
        &[],
        vec![
            file("filtered", "f"),
            file("shared", "low"),
            file("keep", "k"),
            hardlink("link-to-filtered", "filtered"),
            hardlink("link-to-overridden", "shared"),
            hardlink("link-ok", "keep"),
        ],
    );
    let (tmp, stats) = go(vec![top, low]);
    assert_eq!(
        stats.dangling_hard_links,
        vec![
            PathBuf::from("link-to-filtered"),
            PathBuf::from("link-to-overridden")
        ]
    );
    assert!(!exists(&tmp, "link-to-filtered") && !exists(&tmp, "link-to-overridden"));
    assert_eq!(read(&tmp, "link-ok").as_deref(), Some("k"));
    assert_eq!(read(&tmp, "shared").as_deref(), Some("top"));
}

#[test]
fn lower_directory_metadata_fills_implicit_dirs() {
    let top = layer("top", &[], &[], vec![file("usr/bin/a", "a")]);
    let mut usr = hdr("usr", EntryKind::Dir, 0o750);
    usr.mtime = 4242;
    let low = layer(
        "low",
        &[],
        &[],
        vec![
            (usr, vec![]),
            symlink("usr/bin", "/bin"),
            file("usr/bin/b", "b"),
        ],
    );
    let (tmp, stats) = go(vec![top, low]);
    let m = fs::metadata(tmp.path().join("rootfs/usr")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o750, 4242));
    assert!(
        tmp.path().join("rootfs/usr/bin").is_dir()
            && !tmp.path().join("rootfs/usr/bin").is_symlink()
    );
    assert_eq!(read(&tmp, "usr/bin/b").as_deref(), Some("b"));
    assert_eq!(stats.overridden, 1);
}

#[test]
fn duplicates_within_a_layer_follow_on_existing() {
    let tmp = tempfile::tempdir().unwrap();
    let l = layer("dup", &[], &[], vec![file("a", "1"), file("a", "2")]);
    let err = render(tmp.path(), vec![l], opts()).unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::Extract {
                source: ExtractError::Duplicate { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn walk_errors_propagate() {
    let tmp = tempfile::tempdir().unwrap();
    let l = Layer {
        name: "broken".into(),
        whitelists: vec![],
        whiteouts: vec![],
        walk: Box::new(|_sink| {
            Err(RenderError::Walk {
                layer: "broken".into(),
                source: "truncated archive".into(),
            })
        }),
    };
    assert!(matches!(
        render(tmp.path(), vec![l], opts()),
        Err(RenderError::Walk { .. })
    ));
}

/// End to end: a manifest-like graph through `render_plan` into `render`.
#[test]
fn plan_feeds_render() {
    // A -> [B, C], B -> [D], C -> [D]; C whitelists /d-c and /c.
    let graph: HashMap<&str, (Vec<&str>, Vec<String>)> = [
        ("A", (vec!["B", "C"], vec![])),
        ("B", (vec!["D"], vec![])),
        ("C", (vec!["D"], vec!["/c".to_string(), "/d-c".to_string()])),
        ("D", (vec![], vec![])),
    ]
    .into_iter()
    .collect();
    let plan = render_plan("A", |k| {
        let (deps, whitelist) = graph[k].clone();
        Ok(ImageDeps { deps, whitelist })
    })
    .unwrap();
    let keys: Vec<&str> = plan.iter().map(|l| l.key).collect();
    assert_eq!(keys, ["D", "B", "D", "C", "A"]);
    let contents = |k: &str| match k {
        "A" => vec![file("a", "A")],
        "B" => vec![file("b", "B"), file("shared", "B")],
        "C" => vec![file("c", "C"), file("shared", "C")],
        _ => vec![file("d-b", "D"), file("d-c", "D"), file("shared", "D")],
    };
    let layers: Vec<Layer<'static>> = plan
        .into_iter()
        .rev()
        .map(|p| {
            let wl: Vec<Vec<&str>> = p
                .whitelists
                .iter()
                .map(|w| w.iter().map(String::as_str).collect())
                .collect();
            let wl: Vec<&[&str]> = wl.iter().map(Vec::as_slice).collect();
            layer(p.key, &wl, &[], contents(p.key))
        })
        .collect();
    let (tmp, _) = go(layers);
    for (p, want) in [
        ("a", "A"),
        ("b", "B"),
        ("c", "C"),
        ("d-b", "D"),
        ("d-c", "D"),
    ] {
        assert_eq!(read(&tmp, p).as_deref(), Some(want), "{p}");
    }
    // Override order B, D, C: C would win "shared" but its whitelist drops it, so B's copy stays.
    assert_eq!(read(&tmp, "shared").as_deref(), Some("B"));
}
