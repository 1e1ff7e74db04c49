//! Reading ACIs: compression, image IDs against the system's tools, and hostile archives (T2,
//! T15), each refused with its specific error kind.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aci::archive::{
    ArchiveError, ArchiveInfo, Compression, ReadOptions, image_id_and_manifest, read_archive,
    write_aci_entries,
};
use aci::entry::{EntryHeader, EntryKind, PathError};
use sha2::{Digest, Sha512};

const MANIFEST: &[u8] =
    br#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/t"}"#;

// ---------- raw tar building, bypassing every writer-side check ----------

fn header(name: &[u8], ty: u8, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name);
    h.set_entry_type(tar::EntryType::new(ty));
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(1_600_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

#[derive(Default)]
struct RawTar(Vec<u8>);

impl RawTar {
    fn push(mut self, mut h: tar::Header, data: &[u8]) -> Self {
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }
    fn file(self, name: &str, data: &[u8]) -> Self {
        self.push(header(name.as_bytes(), b'0', data.len() as u64), data)
    }
    fn dir(self, name: &str) -> Self {
        self.push(header(name.as_bytes(), b'5', 0), b"")
    }
    fn link(self, name: &str, ty: u8, target: &str) -> Self {
        let mut h = header(name.as_bytes(), ty, 0);
        h.set_link_name_literal(target.as_bytes()).unwrap();
        self.push(h, b"")
    }
    fn pax(self, records: &[(&[u8], &[u8])]) -> Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = k.len() + v.len() + 3;
            let mut len = body + 1;
            while body + len.to_string().len() != len {
                len = body + len.to_string().len();
            }
            data.extend(format!("{len} ").bytes());
            data.extend_from_slice(k);
            data.push(b'=');
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        self.push(header(b"PaxHeaders/x", b'x', data.len() as u64), &data)
    }
    fn base() -> Self {
        RawTar::default().file("manifest", MANIFEST).dir("rootfs")
    }
    fn end(mut self) -> Vec<u8> {
        self.0.extend([0u8; 1024]);
        self.0
    }
}

/// Run a system tool as a filter over `data`.
fn filter(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

fn compress(data: &[u8], tool: &str) -> Vec<u8> {
    filter(tool, &["-c"], data)
}

type Seen = Vec<(EntryHeader, Vec<u8>)>;

fn read_all(bytes: &[u8], opts: &ReadOptions) -> Result<(ArchiveInfo, Seen), ArchiveError> {
    let mut seen = Vec::new();
    let info = read_archive(bytes, opts, |h, data| {
        let mut v = Vec::new();
        data.read_to_end(&mut v).map_err(ArchiveError::Io)?;
        seen.push((h.clone(), v));
        Ok::<(), ArchiveError>(())
    })?;
    Ok((info, seen))
}

fn err_of(bytes: &[u8]) -> ArchiveError {
    read_all(bytes, &ReadOptions::default())
        .map(|_| ())
        .unwrap_err()
}

fn sample_entries() -> Seen {
    let file = |p: &str, data: &[u8]| {
        let h = EntryHeader {
            path: PathBuf::from(p),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            size: data.len() as u64,
            xattrs: vec![],
        };
        (h, data.to_vec())
    };
    let mut big = vec![0u8; 300_000];
    big.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i * 7 % 251) as u8);
    vec![file("a", b"hello"), file("big", &big), file("z", b"last")]
}

fn sha512_hex(data: &[u8]) -> String {
    hex::encode(Sha512::digest(data))
}

// ---------- well-formed images ----------

#[test]
fn every_compression_is_detected_and_hashed_like_sha512sum() {
    let mut plain = Vec::new();
    let id = write_aci_entries(MANIFEST, sample_entries(), &mut plain, Compression::None).unwrap();
    // GNU tar pads to 10 KiB records: the ID must cover that padding too.
    plain.extend(vec![0u8; 10240 - plain.len() % 10240]);
    let out = String::from_utf8(filter("sha512sum", &[], &plain)).unwrap();
    let expected = format!("sha512-{}", out.split_whitespace().next().unwrap());
    assert_ne!(expected, id.as_str(), "the padding must change the hash");

    for (tool, c) in [
        (None, Compression::None),
        (Some("gzip"), Compression::Gzip),
        (Some("bzip2"), Compression::Bzip2),
        (Some("xz"), Compression::Xz),
    ] {
        let bytes = tool.map_or_else(|| plain.clone(), |t| compress(&plain, t));
        let (info, seen) = read_all(&bytes, &ReadOptions::default()).unwrap();
        assert_eq!(info.compression, c);
        assert_eq!(info.image_id.as_str(), expected, "{c}");
        assert_eq!(info.uncompressed_size, plain.len() as u64);
        assert_eq!(info.manifest, MANIFEST);
        assert_eq!(info.entries, 5);
        let want: Vec<_> = sample_entries()
            .into_iter()
            .map(|(h, d)| (h.path, d))
            .collect();
        let got: Vec<_> = seen.into_iter().skip(1).map(|(h, d)| (h.path, d)).collect();
        assert_eq!(got, want, "{c}");
    }
}

#[test]
fn image_id_matches_our_own_writer_for_each_codec() {
    for c in [
        Compression::None,
        Compression::Gzip,
        Compression::Bzip2,
        Compression::Xz,
    ] {
        let mut out = Vec::new();
        let id = write_aci_entries(MANIFEST, sample_entries(), &mut out, c).unwrap();
        let info = image_id_and_manifest(&out[..], &ReadOptions::default()).unwrap();
        assert_eq!(info.image_id, id, "{c}");
        assert_eq!(info.compression, c);
        let tool = match c {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Bzip2 => Some("bzip2"),
            Compression::Xz => Some("xz"),
        };
        if let Some(tool) = tool {
            let plain = filter(tool, &["-dc"], &out);
            assert_eq!(id.hex(), sha512_hex(&plain), "{c}");
        }
    }
}

#[test]
fn sink_may_read_part_of_an_entry() {
    let mut out = Vec::new();
    write_aci_entries(MANIFEST, sample_entries(), &mut out, Compression::Gzip).unwrap();
    let mut got = Vec::new();
    read_archive(&out[..], &ReadOptions::default(), |h, data| {
        let mut first = [0u8; 3];
        let n = data.read(&mut first).map_err(ArchiveError::Io)?;
        got.push((h.path.clone(), first[..n].to_vec()));
        Ok::<(), ArchiveError>(())
    })
    .unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[1], (PathBuf::from("a"), b"hel".to_vec()));
    assert_eq!(got[3], (PathBuf::from("z"), b"las".to_vec()));
}

#[test]
fn want_entries_false_skips_the_sink_but_still_validates() {
    let mut out = Vec::new();
    write_aci_entries(MANIFEST, sample_entries(), &mut out, Compression::Xz).unwrap();
    let opts = ReadOptions {
        want_entries: false,
        ..Default::default()
    };
    let info = read_archive(&out[..], &opts, |_, _| -> Result<(), ArchiveError> {
        panic!("sink called")
    })
    .unwrap();
    assert_eq!(info.manifest, MANIFEST);
    let bad = RawTar::base()
        .file("rootfs/../x", b"")
        .file("manifest", b"")
        .end();
    assert!(matches!(
        image_id_and_manifest(&bad[..], &ReadOptions::default()),
        Err(ArchiveError::BadName { .. })
    ));
}

#[test]
fn leading_dot_slash_and_pax_long_names_are_read() {
    let long = format!("rootfs/{}/f", "d".repeat(300));
    let tar = RawTar::default()
        .file("./manifest", MANIFEST)
        .dir("./rootfs/")
        .pax(&[
            (b"path", long.as_bytes()),
            (b"SCHILY.xattr.user.k", b"a\nb\0c"),
        ])
        .file("rootfs/short", b"data")
        .end();
    let (info, seen) = read_all(&tar, &ReadOptions::default()).unwrap();
    assert_eq!(info.manifest, MANIFEST);
    assert_eq!(seen[0].0.path, PathBuf::new());
    assert_eq!(seen[1].0.path, PathBuf::from(&long["rootfs/".len()..]));
    assert_eq!(
        seen[1].0.xattrs,
        vec![(b"user.k".to_vec(), b"a\nb\0c".to_vec())]
    );
    assert_eq!(seen[1].1, b"data");
}

#[test]
fn unknown_format_is_refused() {
    assert!(matches!(
        err_of(b"hello world"),
        ArchiveError::UnknownFormat { .. }
    ));
    assert!(matches!(err_of(b""), ArchiveError::UnknownFormat { .. }));
    let e = err_of(&[0u8; 2048]).to_string();
    assert!(e.contains("not an ACI: unknown format"), "{e}");
}

// ---------- hostile names and layout (T2) ----------

#[test]
fn unsafe_names_are_hard_errors() {
    type Check = fn(&PathError) -> bool;
    let cases: [(&str, Check); 4] = [
        ("rootfs/../x", |e| matches!(e, PathError::ParentDir(_))),
        ("rootfs/a/../../b", |e| matches!(e, PathError::ParentDir(_))),
        ("/rootfs/a", |e| matches!(e, PathError::Absolute(_))),
        ("../manifest", |e| matches!(e, PathError::ParentDir(_))),
    ];
    for (name, check) in cases {
        let tar = RawTar::base().file(name, b"x").end();
        match err_of(&tar) {
            ArchiveError::BadName { path, source } => {
                assert_eq!(path, name);
                assert!(check(&source), "{name}: {source}");
            }
            other => panic!("{name}: {other}"),
        }
    }
}

#[test]
fn nul_in_names_is_refused() {
    let via_pax = RawTar::base()
        .pax(&[(b"path", b"rootfs/a\0b")])
        .file("rootfs/a", b"")
        .end();
    assert!(matches!(
        err_of(&via_pax),
        ArchiveError::BadName {
            source: PathError::Nul(_),
            ..
        }
    ));
    let name = b"rootfs/a\0b\0";
    let gnu = RawTar::base()
        .push(header(b"././@LongLink", b'L', name.len() as u64), name)
        .file("rootfs/a", b"")
        .end();
    assert!(matches!(
        err_of(&gnu),
        ArchiveError::BadName {
            source: PathError::Nul(_),
            ..
        }
    ));
}

#[test]
fn entries_outside_the_layout_are_refused() {
    for name in ["etc/passwd", "manifest/x", "rootfs2/a"] {
        let tar = RawTar::base().file(name, b"x").end();
        assert!(
            matches!(err_of(&tar), ArchiveError::OutsideLayout { .. }),
            "{name}"
        );
    }
    let dot = RawTar::base().dir("./").end();
    assert!(matches!(err_of(&dot), ArchiveError::OutsideLayout { .. }));
    let slash_file = RawTar::base().file("rootfs/a/", b"").end();
    assert!(matches!(
        err_of(&slash_file),
        ArchiveError::Unsupported { .. }
    ));
}

#[test]
fn duplicates_are_refused() {
    let dup_file = RawTar::base()
        .file("rootfs/a", b"1")
        .file("./rootfs/a", b"2")
        .end();
    assert!(matches!(err_of(&dup_file), ArchiveError::Duplicate { .. }));
    let dup_manifest = RawTar::base().file("manifest", MANIFEST).end();
    assert!(matches!(
        err_of(&dup_manifest),
        ArchiveError::Duplicate { .. }
    ));
    let dup_root = RawTar::base().dir("rootfs/").end();
    assert!(matches!(err_of(&dup_root), ArchiveError::Duplicate { .. }));
}

#[test]
fn manifest_rules() {
    let missing = RawTar::default().dir("rootfs").file("rootfs/a", b"").end();
    assert!(matches!(err_of(&missing), ArchiveError::MissingManifest));
    let as_dir = RawTar::default().dir("manifest").dir("rootfs").end();
    assert!(matches!(
        err_of(&as_dir),
        ArchiveError::ManifestNotFile { .. }
    ));
    let as_link = RawTar::default()
        .link("manifest", b'2', "/etc/passwd")
        .end();
    assert!(matches!(
        err_of(&as_link),
        ArchiveError::ManifestNotFile { .. }
    ));
    let rootfs_file = RawTar::default()
        .file("manifest", MANIFEST)
        .file("rootfs", b"")
        .end();
    assert!(matches!(
        err_of(&rootfs_file),
        ArchiveError::RootfsNotDir { .. }
    ));

    let big = vec![b' '; 2048];
    let tar = RawTar::default().file("manifest", &big).end();
    let opts = ReadOptions {
        max_manifest_size: 1024,
        ..Default::default()
    };
    let e = read_all(&tar, &opts).map(|_| ()).unwrap_err();
    assert!(
        matches!(
            e,
            ArchiveError::ManifestTooLarge {
                size: 2048,
                limit: 1024
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("2048") && msg.contains("1024") && msg.contains("max_manifest_size"));
    assert!(read_all(&tar, &ReadOptions::default()).is_ok());
}

#[test]
fn hard_links_must_stay_in_rootfs() {
    let cases = [
        ("manifest", "outside"),
        ("etc/passwd", "outside"),
        ("rootfs", "outside"),
        ("/rootfs/a", "safe"),
        ("rootfs/../../etc/shadow", "safe"),
        ("rootfs/missing", "earlier"),
        ("rootfs/d", "directory"),
        ("rootfs/l", "itself"),
    ];
    for (target, rule) in cases {
        let tar = RawTar::base()
            .file("rootfs/a", b"x")
            .dir("rootfs/d")
            .link("rootfs/l", b'1', target);
        match err_of(&tar.end()) {
            ArchiveError::BadHardLink { rule: r, .. } => assert!(r.contains(rule), "{target}: {r}"),
            other => panic!("{target}: {other}"),
        }
    }
    let ok = RawTar::base()
        .file("rootfs/a", b"x")
        .link("rootfs/l", b'1', "./rootfs/a")
        .end();
    let (_, seen) = read_all(&ok, &ReadOptions::default()).unwrap();
    assert_eq!(seen[2].0.kind, EntryKind::HardLink(PathBuf::from("a")));
}

#[test]
fn symlink_targets_are_kept_but_not_empty() {
    let tar = RawTar::base().link("rootfs/l", b'2', "../../../etc").end();
    let (_, seen) = read_all(&tar, &ReadOptions::default()).unwrap();
    assert_eq!(
        seen[1].0.kind,
        EntryKind::Symlink(PathBuf::from("../../../etc"))
    );
    let empty = RawTar::base().link("rootfs/l", b'2', "").end();
    assert!(matches!(err_of(&empty), ArchiveError::BadSymlink { .. }));
}

// ---------- PAX and tar structure ----------

#[test]
fn conflicting_pax_size_is_refused() {
    let tar = RawTar::base()
        .pax(&[(b"size", b"5")])
        .file("rootfs/a", b"0123456789")
        .end();
    assert!(matches!(err_of(&tar), ArchiveError::PaxConflict { .. }));
    let same = RawTar::base()
        .pax(&[(b"size", b"10")])
        .file("rootfs/a", b"0123456789")
        .end();
    assert!(read_all(&same, &ReadOptions::default()).is_ok());
}

#[test]
fn pax_tricks_are_refused() {
    let dup_key = RawTar::base().pax(&[(b"path", b"rootfs/a"), (b"path", b"rootfs/b")]);
    assert!(matches!(
        err_of(&dup_key.file("x", b"").end()),
        ArchiveError::PaxConflict { .. }
    ));
    let two = RawTar::base()
        .pax(&[(b"uid", b"1")])
        .pax(&[(b"gid", b"1")])
        .file("rootfs/a", b"");
    assert!(matches!(
        err_of(&two.end()),
        ArchiveError::PaxConflict { .. }
    ));
    let mut bad = RawTar::base();
    bad = bad.push(header(b"PaxHeaders/x", b'x', 9), b"99 path=a");
    assert!(matches!(
        err_of(&bad.file("rootfs/a", b"").end()),
        ArchiveError::BadPax { .. }
    ));
    let name = b"rootfs/gnu\0";
    let both = RawTar::base()
        .push(header(b"././@LongLink", b'L', name.len() as u64), name)
        .pax(&[(b"path", b"rootfs/pax")])
        .file("rootfs/a", b"")
        .end();
    assert!(matches!(err_of(&both), ArchiveError::PaxConflict { .. }));
    let global = RawTar::base()
        .push(header(b"pax_global_header", b'g', 0), b"")
        .end();
    assert!(matches!(err_of(&global), ArchiveError::Unsupported { .. }));
    let dangling = RawTar::base().pax(&[(b"uid", b"1")]).end();
    assert!(matches!(err_of(&dangling), ArchiveError::Tar { .. }));
}

#[test]
fn truncated_tar_mid_entry_is_refused() {
    let full = RawTar::base().file("rootfs/a", &[7u8; 5000]).end();
    let cut = &full[..1024 + 512 + 512 + 2000];
    // With the sink reading the data, and without (skipping it).
    assert!(matches!(err_of(cut), ArchiveError::Tar { .. }));
    let e = image_id_and_manifest(cut, &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, ArchiveError::Tar { .. }), "{e}");
    // Cut inside a header block.
    assert!(matches!(
        err_of(&full[..1024 + 700]),
        ArchiveError::Tar { .. }
    ));
}

#[test]
fn corrupt_header_checksum_is_refused() {
    let mut tar = RawTar::base().file("rootfs/a", b"x").end();
    tar[1024 + 10] ^= 0x55;
    assert!(matches!(err_of(&tar), ArchiveError::Tar { .. }));
}

// ---------- compressed-stream damage and limits (T15) ----------

fn gz_image() -> (Vec<u8>, Vec<u8>) {
    let mut plain = Vec::new();
    write_aci_entries(MANIFEST, sample_entries(), &mut plain, Compression::None).unwrap();
    (plain.clone(), compress(&plain, "gzip"))
}

#[test]
fn truncated_compressed_streams_are_refused() {
    let (plain, _) = gz_image();
    for (tool, c) in [
        ("gzip", Compression::Gzip),
        ("bzip2", Compression::Bzip2),
        ("xz", Compression::Xz),
    ] {
        let z = compress(&plain, tool);
        for cut in [z.len() / 2, z.len() - 4] {
            match err_of(&z[..cut]) {
                ArchiveError::Decompress { compression, .. } => assert_eq!(compression, c),
                other => panic!("{tool} cut at {cut}/{}: {other}", z.len()),
            }
            let e = image_id_and_manifest(&z[..cut], &ReadOptions::default()).unwrap_err();
            assert!(matches!(e, ArchiveError::Decompress { .. }), "{tool}: {e}");
        }
    }
}

#[test]
fn corrupt_gzip_is_refused() {
    let (_, mut z) = gz_image();
    let mid = z.len() / 2;
    for b in &mut z[mid..mid + 16] {
        *b ^= 0xa5;
    }
    assert!(matches!(
        err_of(&z),
        ArchiveError::Decompress {
            compression: Compression::Gzip,
            ..
        }
    ));
    // A wrong CRC in the trailer only shows when the stream is drained to its end.
    let (_, mut z) = gz_image();
    let n = z.len();
    z[n - 8] ^= 1;
    assert!(matches!(err_of(&z), ArchiveError::Decompress { .. }));
}

#[test]
fn decompression_bomb_stops_at_the_limit() {
    let zeros = vec![0u8; 8 << 20];
    let tar = RawTar::base().file("rootfs/zeros", &zeros).end();
    let z = compress(&tar, "gzip");
    assert!(z.len() < 64 * 1024, "the bomb should be small: {}", z.len());
    let opts = ReadOptions {
        max_uncompressed_size: Some(1 << 20),
        ..Default::default()
    };
    let e = read_all(&z, &opts).map(|_| ()).unwrap_err();
    assert!(
        matches!(e, ArchiveError::TooLarge { limit } if limit == 1 << 20),
        "{e}"
    );
    let e = image_id_and_manifest(&z[..], &opts).unwrap_err();
    assert!(matches!(e, ArchiveError::TooLarge { .. }), "{e}");
    let roomy = ReadOptions {
        max_uncompressed_size: Some(tar.len() as u64),
        ..Default::default()
    };
    assert_eq!(
        image_id_and_manifest(&z[..], &roomy)
            .unwrap()
            .uncompressed_size,
        tar.len() as u64
    );
}

#[test]
fn tee_reader_keeps_the_compressed_bytes() {
    let (plain, z) = gz_image();
    let mut copy = Vec::new();
    let tee = aci::archive::TeeReader::new(&z[..], &mut copy);
    let info = image_id_and_manifest(tee, &ReadOptions::default()).unwrap();
    assert_eq!(copy, z);
    assert_eq!(info.image_id.hex(), sha512_hex(&plain));
}
