//! The probe and the images, without pods (no root needed except where noted): the `inspect`
//! probe's output format, the test images' layout, the stage1 image's layout, annotations and
//! reproducibility.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use aci::archive::{ReadOptions, read_archive};
use aci::entry::{EntryHeader, EntryKind};
use functional_tests::image::{InspectImage, STAGE1_NAME, stage1_image};
use functional_tests::{env_path, kv};

fn inspect(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_inspect"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running inspect");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

/// Every rootfs entry of an ACI (header, data) by path, and the manifest.
fn read_aci(path: &Path) -> (serde_json::Value, BTreeMap<PathBuf, (EntryHeader, Vec<u8>)>) {
    let file = std::fs::File::open(path).expect("opening the image");
    let mut entries = BTreeMap::new();
    let info = read_archive(file, &ReadOptions::default(), |h, data| {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(data, &mut buf).map_err(aci::archive::ArchiveError::Io)?;
        entries.insert(h.path.clone(), (h.clone(), buf));
        Ok::<(), aci::archive::ArchiveError>(())
    })
    .expect("a valid ACI");
    let manifest = serde_json::from_slice(&info.manifest).expect("a JSON manifest");
    (manifest, entries)
}

fn annotation<'a>(m: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    m["annotations"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)?["value"]
        .as_str()
}

#[test]
fn inspect_prints_key_value_lines_in_order() {
    let (code, out) = inspect(&[
        "--print-msg=first",
        "--print-env=PATH",
        "--print-env=SURELY_UNSET_VAR",
        "--print-user",
        "--print-cwd",
        "--exit-code=3",
    ]);
    assert_eq!(code, 3);
    assert_eq!(out.lines().next(), Some("first"));
    assert_eq!(kv(&out, "PATH"), std::env::var("PATH").ok().as_deref());
    assert_eq!(kv(&out, "UNSET"), Some("SURELY_UNSET_VAR"));
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() }.to_string();
    assert_eq!(kv(&out, "UID"), Some(uid.as_str()));
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(kv(&out, "CWD"), Some(cwd.to_str().unwrap()));
}

#[test]
fn inspect_files_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let (code, out) = inspect(&[
        &format!("--write-file={fs}"),
        "--content=hello",
        &format!("--read-file={fs}"),
        &format!("--stat={fs}"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello");
    assert_eq!(kv(&out, "READ"), Some("hello"));
    assert!(kv(&out, "STAT").unwrap().contains("type=file"), "{out}");
    let (code, out) = inspect(&["--read-file=/nonexistent/x", "--exit-code=0"]);
    assert_eq!(code, 1, "a failed action exits 1: {out}");
    assert!(kv(&out, "ERROR").unwrap().contains("/nonexistent/x"));
    assert_eq!(inspect(&["--bogus"]).0, 2);
}

#[test]
fn inspect_lists_only_open_fds() {
    let (_, out) = inspect(&["--print-fds"]);
    // stdin is /dev/null, stdout a pipe, stderr inherited: at least 0, 1, 2 and nothing that
    // the listing itself opened.
    let fds: Vec<&str> = kv(&out, "FDS").unwrap().split(',').collect();
    assert!(fds.starts_with(&["0", "1", "2"]), "{out}");
    for fd in &fds {
        assert!(kv(&out, &format!("FD_{fd}")).is_some(), "{out}");
    }
}

#[test]
fn inspect_silent_sigterm_exits_with_the_exit_code() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inspect"))
        .args(["--silent-sigterm", "--exit-code=6", "--sleep=30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(6));
}

#[test]
fn inspect_image_layout() {
    let b = InspectImage::new("rkt-rs.dev/ft/layout")
        .args(&["--print-msg=x"])
        .env("A", "1")
        .mount_point("data", "/data", false)
        .symlink("link", "/etc")
        .builder(b"probe");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.aci");
    let id = b.write(&path).unwrap();
    let (m, entries) = read_aci(&path);
    assert_eq!(m["name"], "rkt-rs.dev/ft/layout");
    assert_eq!(
        m["app"]["exec"],
        serde_json::json!(["/inspect", "--print-msg=x"])
    );
    assert_eq!(m["app"]["environment"][0]["name"], "A");
    assert_eq!(m["app"]["mountPoints"][0]["path"], "/data");
    let (h, data) = &entries[Path::new("inspect")];
    assert_eq!((h.mode, data.as_slice()), (0o755, &b"probe"[..]));
    assert!(
        entries[Path::new("etc/passwd")]
            .1
            .starts_with(b"root:x:0:0:")
    );
    let owned = &entries[Path::new("owned")].0;
    assert_eq!((owned.uid, owned.gid), (1001, 1002));
    assert_eq!(
        entries[Path::new("link")].0.kind,
        EntryKind::Symlink("/etc".into())
    );
    // Reproducible: the same image twice is the same bytes.
    let again = dir.path().join("again.aci");
    assert_eq!(b.write(&again).unwrap(), id);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

/// The checks every stage1 image must pass (ABI: name, annotations, layout, owners, modes).
fn check_stage1(path: &Path, binary: Option<&[u8]>) {
    let (m, entries) = read_aci(path);
    assert_eq!(m["name"], STAGE1_NAME);
    let labels = m["labels"].as_array().unwrap();
    let label = |n: &str| labels.iter().find(|l| l["name"] == n).map(|l| &l["value"]);
    assert_eq!(label("version").unwrap(), env!("CARGO_PKG_VERSION"));
    assert_eq!(label("os").unwrap(), "linux");
    assert_eq!(label("arch").unwrap(), "amd64");
    for (ep, target) in [
        ("run", "init"),
        ("enter", "enter"),
        ("gc", "gc"),
        ("stop", "stop"),
    ] {
        let want = format!("/usr/lib/rkt/stage1/{target}");
        assert_eq!(
            annotation(&m, &format!("coreos.com/rkt/stage1/{ep}")),
            Some(want.as_str())
        );
    }
    assert_eq!(
        annotation(&m, "coreos.com/rkt/stage1/interface-version"),
        Some("6")
    );
    let (bin, data) = &entries[Path::new("usr/lib/rkt/stage1/rkt-stage1")];
    assert_eq!(bin.mode, 0o755);
    if let Some(b) = binary {
        assert!(data == b, "the image carries the stage1 binary");
    }
    for link in ["init", "enter", "gc", "stop", "stage2"] {
        let h = &entries[&Path::new("usr/lib/rkt/stage1").join(link)].0;
        assert_eq!(h.kind, EntryKind::Symlink("rkt-stage1".into()), "{link}");
    }
    for dir in ["opt/stage2", "rkt", "proc", "dev", "sys", "tmp", "etc"] {
        assert_eq!(entries[Path::new(dir)].0.kind, EntryKind::Dir, "{dir}");
    }
    // The app skeleton: the mount points every app gets.
    let skel = Path::new("usr/lib/rkt/app-skel");
    for dir in ["dev", "proc", "sys", "etc"] {
        assert_eq!(entries[&skel.join(dir)].0.kind, EntryKind::Dir, "{dir}");
    }
    let (hostname, data) = &entries[&skel.join("etc/hostname")];
    assert_eq!((hostname.kind.clone(), data.len()), (EntryKind::File, 0));
    for (p, (h, _)) in &entries {
        assert_eq!((h.uid, h.gid), (0, 0), "{} is root-owned", p.display());
        if h.kind == EntryKind::File {
            assert!(
                matches!(h.mode, 0o755 | 0o644),
                "{}: {:o}",
                p.display(),
                h.mode
            );
        }
        if p.starts_with("usr") && !matches!(h.kind, EntryKind::Symlink(_)) {
            assert_eq!(
                h.mode & 0o022,
                0,
                "{} is not group/world-writable",
                p.display()
            );
        }
    }
}

#[test]
fn mkimage_stage1_is_reproducible_and_follows_the_abi() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-stage1");
    std::fs::write(&fake, b"\x7fELF not really").unwrap();
    let mut outs = Vec::new();
    for n in 0..2 {
        let out = dir.path().join(format!("s1-{n}.aci"));
        let st = Command::new(env!("CARGO_BIN_EXE_mkimage"))
            .args(["stage1", "--bin", fake.to_str().unwrap(), "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(st.status.success(), "{st:?}");
        check_stage1(&out, Some(b"\x7fELF not really"));
        outs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(outs[0], outs[1]);
    let lib = stage1_image(b"x", STAGE1_NAME, "0.1.0").tar().unwrap().1;
    assert!(lib.as_str().starts_with("sha512-"));
}

/// The image `make stage1` built (RKT_STAGE1_ACI) around the static binary (RKT_STAGE1_BIN).
#[test]
fn built_stage1_image() {
    let aci = env_path("RKT_STAGE1_ACI");
    let bin = std::fs::read(env_path("RKT_STAGE1_BIN")).unwrap();
    check_stage1(&aci, Some(&bin));
    // Static: no program interpreter, so they run in rootfs without libraries.
    assert!(
        !has_interpreter(&bin),
        "rkt-stage1 must be linked statically"
    );
    let probe = std::fs::read(env_path("RKT_INSPECT_BIN")).unwrap();
    assert!(
        !has_interpreter(&probe),
        "inspect must be linked statically"
    );
}

/// Whether an ELF64 little-endian executable has a PT_INTERP program header.
fn has_interpreter(elf: &[u8]) -> bool {
    assert!(elf.starts_with(b"\x7fELF\x02\x01"), "not an ELF64 LE file");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let o = phoff + i * size;
        u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) == 3
    })
}
