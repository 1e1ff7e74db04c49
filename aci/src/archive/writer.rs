//! Deterministic ACI writing: ustar headers plus local PAX records only where a value does not
//! fit (long names, xattrs, large numbers), numeric owners with empty user/group names, no
//! atime/ctime, and a gzip header with mtime 0 and no file name. Same entries, same bytes.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::compression::{Compression, Encoder};
use super::hashing::HashingWriter;
use super::{ArchiveError, pax, walk};
use crate::entry::{EntryHeader, EntryKind, normalize_rel};
use crate::types::ImageId;

/// Largest value of an octal ustar field with `digits` digits.
const fn octal_max(digits: u32) -> u64 {
    (1 << (3 * digits)) - 1
}
const NAME_LEN: usize = 100;
const PREFIX_LEN: usize = 155;

/// Builds an ACI stream: [`AciBuilder::manifest`], then `rootfs` entries in order, then
/// [`AciBuilder::finish`] for the image ID. The `rootfs` directory entry is added with default
/// metadata (0755, root, mtime 0) if the first rootfs entry is not the rootfs itself.
pub struct AciBuilder<W: Write> {
    tar: tar::Builder<HashingWriter<Encoder<W>>>,
    seen: HashSet<PathBuf>,
    has_manifest: bool,
    has_rootfs: bool,
}

impl<W: Write> AciBuilder<W> {
    pub fn new(out: W, compression: Compression) -> Self {
        let encoder = Encoder::new(out, compression);
        AciBuilder {
            tar: tar::Builder::new(HashingWriter::new(encoder)),
            seen: HashSet::new(),
            has_manifest: false,
            has_rootfs: false,
        }
    }

    /// Add the `manifest` entry (mode 0644, root, mtime 0); once only.
    pub fn manifest(&mut self, json: &[u8]) -> Result<(), ArchiveError> {
        if std::mem::replace(&mut self.has_manifest, true) {
            return Err(bad_input("manifest", "the manifest was already added"));
        }
        let header = EntryHeader {
            path: PathBuf::new(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: json.len() as u64,
            xattrs: Vec::new(),
        };
        self.write(b"manifest".to_vec(), &header, &mut &json[..])
    }

    /// Add one rootfs entry; `data` supplies exactly `header.size` bytes for a regular file.
    pub fn entry(&mut self, header: &EntryHeader, data: &mut dyn Read) -> Result<(), ArchiveError> {
        let path = &header.path;
        if normalize_rel(path).ok().as_ref() != Some(path) {
            return Err(bad_input(
                path,
                "entry paths must be relative and normalised",
            ));
        }
        let is_root = path.as_os_str().is_empty();
        if is_root && header.kind != EntryKind::Dir {
            return Err(bad_input(path, "the rootfs itself must be a directory"));
        }
        if !self.has_rootfs && !is_root {
            self.write(b"rootfs".to_vec(), &default_rootfs(), &mut io::empty())?;
        }
        self.has_rootfs = true;
        if !self.seen.insert(path.clone()) {
            return Err(bad_input(path, "the entry was already added"));
        }
        self.write(tar_name(path), header, data)
    }

    /// Write the end-of-archive blocks and the compression trailer; return the image ID (of the
    /// uncompressed tar) and the output.
    pub fn finish(mut self) -> Result<(ImageId, W), ArchiveError> {
        if !self.has_manifest {
            return Err(ArchiveError::MissingManifest);
        }
        if !self.has_rootfs {
            self.write(b"rootfs".to_vec(), &default_rootfs(), &mut io::empty())?;
        }
        let hashing = self.tar.into_inner().map_err(ArchiveError::Write)?;
        let (digest, _size, encoder) = hashing.into_parts();
        let out = encoder.finish().map_err(ArchiveError::Write)?;
        Ok((ImageId::from_digest(&digest), out))
    }

    fn write(
        &mut self,
        name: Vec<u8>,
        eh: &EntryHeader,
        data: &mut dyn Read,
    ) -> Result<(), ArchiveError> {
        let (header, records) = build_header(&name, eh)?;
        if !records.is_empty() {
            let mut x = Header::new_ustar();
            x.set_entry_type(EntryType::XHeader);
            set_name(&mut x, &pax_header_name(&name));
            x.set_mode(0o644);
            x.set_size(records.len() as u64);
            x.set_cksum();
            self.tar
                .append(&x, &records[..])
                .map_err(ArchiveError::Write)?;
        }
        let size = if eh.kind == EntryKind::File {
            eh.size
        } else {
            0
        };
        let mut counted = Counted {
            inner: (&mut *data).take(size),
            n: 0,
        };
        self.tar
            .append(&header, &mut counted)
            .map_err(ArchiveError::Write)?;
        let copied = counted.n;
        let mut extra = [0u8; 1];
        let grew = size > 0 && data.read(&mut extra).map_err(ArchiveError::Write)? > 0;
        if copied != size || grew {
            return Err(bad_input(
                lossy_path(&name),
                "the data length differs from the entry size (did the file change?)",
            ));
        }
        Ok(())
    }
}

/// Build an ACI from a manifest and a rootfs directory (read, never followed: symlinks are
/// stored as symlinks). Entries are sorted, so the same tree always gives the same bytes.
/// Sockets are skipped (a tar cannot hold them).
pub fn write_aci(
    manifest_json: &[u8],
    rootfs: &Path,
    out: impl Write,
    compression: Compression,
) -> Result<ImageId, ArchiveError> {
    let mut b = AciBuilder::new(out, compression);
    b.manifest(manifest_json)?;
    walk::walk_rootfs(rootfs, |header, source| match source {
        Some(path) => {
            let mut file = walk::open_nofollow(path)?;
            b.entry(&header, &mut file)
        }
        None => b.entry(&header, &mut io::empty()),
    })?;
    b.finish().map(|(id, _)| id)
}

/// Build an ACI from in-memory entries, in the order given (for tests and tools).
pub fn write_aci_entries(
    manifest_json: &[u8],
    entries: impl IntoIterator<Item = (EntryHeader, Vec<u8>)>,
    out: impl Write,
    compression: Compression,
) -> Result<ImageId, ArchiveError> {
    let mut b = AciBuilder::new(out, compression);
    b.manifest(manifest_json)?;
    for (header, data) in entries {
        b.entry(&header, &mut &data[..])?;
    }
    b.finish().map(|(id, _)| id)
}

fn default_rootfs() -> EntryHeader {
    EntryHeader {
        path: PathBuf::new(),
        kind: EntryKind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: 0,
        xattrs: Vec::new(),
    }
}

fn tar_name(rel: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut name = b"rootfs".to_vec();
    if !rel.as_os_str().is_empty() {
        name.push(b'/');
        name.extend_from_slice(rel.as_os_str().as_bytes());
    }
    name
}

/// The ustar header of an entry, and the PAX records it needs (empty when none).
fn build_header(name: &[u8], eh: &EntryHeader) -> Result<(Header, Vec<u8>), ArchiveError> {
    use std::os::unix::ffi::OsStrExt;
    let mut h = Header::new_ustar();
    let mut records = Vec::new();
    let (ty, link) = match &eh.kind {
        EntryKind::File => (EntryType::Regular, None),
        EntryKind::Dir => (EntryType::Directory, None),
        EntryKind::Symlink(t) => (EntryType::Symlink, Some(t.as_os_str().as_bytes().to_vec())),
        EntryKind::HardLink(t) => {
            if normalize_rel(t).ok().as_ref() != Some(t) || t.as_os_str().is_empty() {
                return Err(bad_input(
                    &eh.path,
                    "a hard link target must be a normalised rootfs path",
                ));
            }
            (EntryType::Link, Some(tar_name(t)))
        }
        EntryKind::CharDevice { .. } => (EntryType::Char, None),
        EntryKind::BlockDevice { .. } => (EntryType::Block, None),
        EntryKind::Fifo => (EntryType::Fifo, None),
    };
    h.set_entry_type(ty);
    if let EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } =
        eh.kind
    {
        set_device(&mut h, major, minor).map_err(|e| bad_input(&eh.path, &e.to_string()))?;
    }
    if !set_name(&mut h, name) {
        records.extend(pax::record(b"path", name));
    }
    if let Some(link) = link {
        if link.is_empty() || link.contains(&0) {
            return Err(bad_input(
                &eh.path,
                "a link target must be non-empty and free of NUL",
            ));
        }
        if link.len() <= NAME_LEN {
            h.set_link_name_literal(&link)
                .map_err(ArchiveError::Write)?;
        } else {
            records.extend(pax::record(b"linkpath", &link));
        }
    }
    h.set_mode(eh.mode & 0o7777);
    let size = if eh.kind == EntryKind::File {
        eh.size
    } else {
        0
    };
    // Values too big for the octal fields go to PAX; tar also stores them base-256 in the header,
    // with the same value, so both views agree.
    for (key, value, digits) in [
        (&b"uid"[..], u64::from(eh.uid), 7),
        (b"gid", u64::from(eh.gid), 7),
        (b"size", size, 11),
        (b"mtime", eh.mtime, 11),
    ] {
        if value > octal_max(digits) {
            records.extend(pax::record(key, value.to_string().as_bytes()));
        }
    }
    h.set_uid(eh.uid.into());
    h.set_gid(eh.gid.into());
    h.set_size(size);
    h.set_mtime(eh.mtime);
    for (k, v) in &eh.xattrs {
        if k.is_empty() || k.contains(&0) || k.contains(&b'=') {
            return Err(bad_input(
                &eh.path,
                "an xattr name must be non-empty, without NUL or '='",
            ));
        }
        records.extend(pax::xattr_record(k, v));
    }
    h.set_cksum();
    Ok((h, records))
}

fn set_device(h: &mut Header, major: u32, minor: u32) -> io::Result<()> {
    h.set_device_major(major)?;
    h.set_device_minor(minor)
}

/// Store `name` in the ustar name (and prefix) fields, byte for byte; false when it does not
/// fit (the caller then adds a PAX `path` and the header keeps a truncated name).
fn set_name(h: &mut Header, name: &[u8]) -> bool {
    let Some(ustar) = h.as_ustar_mut() else {
        return false;
    };
    let (prefix, rest) = match split_name(name) {
        Some(split) => split,
        None => {
            let cut = &name[..name.len().min(NAME_LEN)];
            ustar.name[..cut.len()].copy_from_slice(cut);
            return false;
        }
    };
    ustar.prefix[..prefix.len()].copy_from_slice(prefix);
    ustar.name[..rest.len()].copy_from_slice(rest);
    true
}

/// Split into (prefix, name) at a '/' so that both fit; `None` when no split works.
fn split_name(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= NAME_LEN {
        return Some((&[], name));
    }
    let start = name.len() - NAME_LEN - 1;
    (start..name.len().min(PREFIX_LEN + 1))
        .find(|&i| name[i] == b'/' && i > 0 && i + 1 < name.len())
        .map(|i| (&name[..i], &name[i + 1..]))
}

/// The name of a PAX header entry: informative only, but it must stay inside the layout for
/// readers that ignore PAX, and be deterministic.
fn pax_header_name(name: &[u8]) -> Vec<u8> {
    let base = name.rsplit(|b| *b == b'/').next().unwrap_or(name);
    let base = &base[..base.len().min(60)];
    [&b"rootfs/PaxHeaders/"[..], base].concat()
}

fn bad_input(path: impl AsRef<Path>, rule: &str) -> ArchiveError {
    ArchiveError::BadInput {
        path: path.as_ref().to_path_buf(),
        rule: rule.to_string(),
    }
}

fn lossy_path(name: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(name))
}

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_name_fits_ustar() {
        let short = b"rootfs/a";
        assert_eq!(split_name(short), Some((&b""[..], &short[..])));
        let long = [b"rootfs/".to_vec(), vec![b'd'; 120], b"/file".to_vec()].concat();
        let (p, n) = split_name(&long).unwrap();
        assert!(p.len() <= PREFIX_LEN && n.len() <= NAME_LEN);
        assert_eq!([p, b"/", n].concat(), long);
        assert_eq!(split_name(&vec![b'x'; 300]), None);
    }

    #[test]
    fn octal_limits() {
        assert_eq!(octal_max(7), 0o7777777);
        assert_eq!(octal_max(11), 0o77777777777);
    }
}
