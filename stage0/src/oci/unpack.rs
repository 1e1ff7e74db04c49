//! Unpacking one layer tar into its own tree, with OCI whiteouts turned into overlayfs ones.
//!
//! Choice: each layer is its own overlayfs lower dir, so whiteouts are *converted*, not
//! pre-merged: `.wh.NAME` becomes a 0/0 character device `NAME` and `.wh..wh..opq` sets
//! `trusted.overlay.opaque=y` on its directory. overlayfs then hides exactly the lower layers'
//! entries, never this layer's own (a whiteout for a path this layer also writes is dropped,
//! and a directory recreated after its whiteout becomes opaque). Whiteouts are applied after
//! the layer's other entries, so their order in the tar does not matter.
//!
//! Every node is written by [`aci::extract::Extractor`] (fd-based, never through a symlink,
//! `..` and absolute paths refused). A hard link to a file an earlier *layer* wrote (allowed
//! by Docker's layer format) becomes a copy of that file, read beneath the lower tree's root
//! without following symlinks. `trusted.overlay.*` attributes in the tar are dropped: a layer
//! may not forge overlayfs metadata.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use aci::entry::{EntryHeader, EntryKind, normalize_rel};
use aci::extract::{Existing, ExtractOptions, Extractor};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::OciError;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Counters of one unpacked layer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    pub whiteouts: u64,
    pub opaque_dirs: u64,
    pub copied_links: u64,
    /// Bytes of the uncompressed layer stream.
    pub bytes: u64,
}

struct State {
    written: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
    whiteouts: Vec<PathBuf>,
    opaque: Vec<PathBuf>,
    stats: UnpackStats,
}

/// Unpack the (decompressed) layer tar `input` into the existing empty directory `root`.
/// `lowers` are the rootfs dirs of the layers below, top first.
pub fn unpack_layer(
    input: impl Read,
    root: &Path,
    lowers: &[PathBuf],
    layer: &str,
) -> Result<UnpackStats, OciError> {
    let bad = |problem: String| OciError::Layer {
        layer: layer.to_string(),
        problem,
    };
    let opts = ExtractOptions {
        allow_devices: true,
        on_existing: Existing::Error,
        ..ExtractOptions::default()
    };
    let mut ex = Extractor::new(root, opts).map_err(|e| bad(e.to_string()))?;
    let mut st = State {
        written: HashSet::new(),
        dirs: HashSet::new(),
        whiteouts: Vec::new(),
        opaque: Vec::new(),
        stats: UnpackStats::default(),
    };
    let mut archive = tar::Archive::new(input);
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("reading the tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("reading the tar: {e}")))?;
        let Some(mut header) = header_of(&mut entry).map_err(bad)? else {
            continue;
        };
        st.stats.entries += 1;
        if let Some(name) = header.path.file_name().and_then(|n| n.to_str())
            && let Some(rest) = name.strip_prefix(WHITEOUT)
        {
            let parent = header.path.parent().unwrap_or(Path::new("")).to_path_buf();
            if name == OPAQUE {
                st.opaque.push(parent);
            } else if !rest.starts_with(WHITEOUT) && !rest.is_empty() {
                st.whiteouts.push(parent.join(rest));
            }
            continue;
        }
        let mut data: Box<dyn Read + '_> = Box::new(&mut entry);
        if let EntryKind::HardLink(target) = &header.kind
            && !st.written.contains(target)
        {
            let (file, meta) = find_in_lowers(lowers, target).ok_or_else(|| {
                bad(format!(
                    "hard link {} -> {}: the target is in neither this layer nor a lower one",
                    header.path.display(),
                    target.display()
                ))
            })?;
            header.kind = EntryKind::File;
            header.size = meta.size();
            header.mode = meta.mode() & 0o7777;
            st.stats.copied_links += 1;
            data = Box::new(File::from(file));
        }
        ex.apply(&header, &mut data)
            .map_err(|e| bad(e.to_string()))?;
        if header.kind == EntryKind::Dir {
            st.dirs.insert(header.path.clone());
        }
        st.written.insert(header.path);
    }
    finish_whiteouts(&mut ex, &mut st).map_err(bad)?;
    ex.finish().map_err(|e| bad(e.to_string()))?;
    for dir in &st.opaque {
        set_opaque(root, dir).map_err(|e| bad(format!("marking {} opaque: {e}", dir.display())))?;
    }
    Ok(st.stats)
}

/// Whiteout nodes for paths this layer did not write; opaque dirs the layer did not list.
fn finish_whiteouts(ex: &mut Extractor, st: &mut State) -> Result<(), String> {
    for w in std::mem::take(&mut st.whiteouts) {
        if st.dirs.contains(&w) {
            // Deleted and recreated in this layer: nothing of the lower directory shows.
            st.opaque.push(w);
            continue;
        }
        if st.written.contains(&w) {
            continue;
        }
        let h = node(
            w.clone(),
            EntryKind::CharDevice { major: 0, minor: 0 },
            0o600,
        );
        ex.apply(&h, &mut std::io::empty())
            .map_err(|e| e.to_string())?;
        st.written.insert(w);
        st.stats.whiteouts += 1;
    }
    st.opaque.sort();
    st.opaque.dedup();
    for d in &st.opaque {
        if !d.as_os_str().is_empty() && !st.written.contains(d) {
            let h = node(d.clone(), EntryKind::Dir, 0o755);
            ex.apply(&h, &mut std::io::empty())
                .map_err(|e| e.to_string())?;
            st.written.insert(d.clone());
        }
        st.stats.opaque_dirs += 1;
    }
    Ok(())
}

fn node(path: PathBuf, kind: EntryKind, mode: u32) -> EntryHeader {
    EntryHeader {
        path,
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: 0,
        xattrs: Vec::new(),
    }
}

/// The entry's header in the extractor's terms; None for entries that create nothing
/// (global PAX headers and the like).
fn header_of<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Option<EntryHeader>, String> {
    let raw_path = entry
        .path()
        .map_err(|e| format!("entry name: {e}"))?
        .into_owned();
    let rel = raw_path.strip_prefix("/").unwrap_or(&raw_path);
    let path = normalize_rel(rel).map_err(|e| format!("entry refused: {e}"))?;
    let h = entry.header();
    let link = || -> Result<PathBuf, String> {
        entry
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.into_owned())
            .ok_or_else(|| format!("entry {}: link without a target", path.display()))
    };
    let dev = |v: std::io::Result<Option<u32>>| v.ok().flatten().unwrap_or(0);
    use tar::EntryType as T;
    let kind = match h.entry_type() {
        T::Regular | T::Continuous => EntryKind::File,
        T::Directory => EntryKind::Dir,
        T::Symlink => EntryKind::Symlink(link()?),
        T::Link => {
            let target = link()?;
            let target = target.strip_prefix("/").unwrap_or(&target);
            EntryKind::HardLink(
                normalize_rel(target).map_err(|e| format!("hard link refused: {e}"))?,
            )
        }
        T::Char => EntryKind::CharDevice {
            major: dev(h.device_major()),
            minor: dev(h.device_minor()),
        },
        T::Block => EntryKind::BlockDevice {
            major: dev(h.device_major()),
            minor: dev(h.device_minor()),
        },
        T::Fifo => EntryKind::Fifo,
        _ => return Ok(None),
    };
    let num = |v: std::io::Result<u64>, what: &str| -> Result<u32, String> {
        v.ok()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("entry {}: bad {what}", path.display()))
    };
    let mode = num(h.mode().map(u64::from), "mode")? & 0o7777;
    let uid = num(h.uid(), "uid")?;
    let gid = num(h.gid(), "gid")?;
    let mtime = h.mtime().unwrap_or(0);
    let size = if kind == EntryKind::File {
        entry.size()
    } else {
        0
    };
    let mut xattrs = Vec::new();
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                continue;
            };
            if !name.starts_with(b"trusted.overlay.") {
                xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(Some(EntryHeader {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
        size,
        xattrs,
    }))
}

/// Open `rel` beneath `root` without following any symlink (the last component included).
pub(crate) fn open_beneath(root: &Path, rel: &Path, flags: OFlags) -> std::io::Result<OwnedFd> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    Ok(rustix::fs::openat2(
        dir.as_fd(),
        rel,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// The regular file `rel` in the topmost lower layer that has anything at that path; None if
/// that is a whiteout or not a regular file.
fn find_in_lowers(lowers: &[PathBuf], rel: &Path) -> Option<(OwnedFd, std::fs::Metadata)> {
    use std::os::unix::fs::FileTypeExt;
    for lower in lowers {
        let Ok(fd) = open_beneath(lower, rel, OFlags::PATH) else {
            continue;
        };
        let file = File::from(fd);
        let meta = file.metadata().ok()?;
        if meta.file_type().is_char_device() || !meta.is_file() {
            return None;
        }
        let fd = open_beneath(lower, rel, OFlags::RDONLY).ok()?;
        return Some((fd, meta));
    }
    None
}

fn set_opaque(root: &Path, dir: &Path) -> std::io::Result<()> {
    let fd = open_beneath(root, dir, OFlags::RDONLY | OFlags::DIRECTORY)?;
    rustix::fs::fsetxattr(&fd, OPAQUE_XATTR, b"y", rustix::fs::XattrFlags::empty())?;
    Ok(())
}

use std::os::unix::fs::MetadataExt;
