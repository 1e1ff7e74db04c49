//! One streaming pass over an ACI: decompress, hash, validate, hand entries to a sink.
//!
//! Stack of readers, bottom up: the input in a 128 KiB buffer; the decompressor; a guard (size
//! limit, remembers decompressor errors); then, across a thread boundary when the stream is
//! long (see `pipeline`), chunks of the decompressed stream, hashed for the image ID on one
//! side or the other; the tar parser in raw mode.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;

use tar::EntryType;

use super::compression::decompress;
use super::hashing::GuardTrip;
use super::pax::{self, PaxProblem, PaxRecords};
use super::pipeline::{Chunks, pipelined};
use super::{ArchiveError, ArchiveInfo, ReadOptions};
use crate::entry::{EntryHeader, EntryKind};
use crate::types::ImageId;

mod layout;

use layout::{Place, place_of};

const BUF_SIZE: usize = 128 * 1024;
/// Largest PAX or GNU long-name record accepted: they are held in memory.
const MAX_META_SIZE: u64 = 1024 * 1024;

type RawEntry<'x> = tar::Entry<'x, Chunks>;

/// A failure while walking entries: ours, or the sink's own.
enum Stop<E> {
    Archive(ArchiveError),
    Sink(E),
}

impl<E> From<ArchiveError> for Stop<E> {
    fn from(e: ArchiveError) -> Self {
        Stop::Archive(e)
    }
}

/// Extension records waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    pax: Option<Vec<u8>>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pax.is_none() && self.long_name.is_none() && self.long_link.is_none()
    }
}

struct State<'o> {
    opts: &'o ReadOptions,
    /// Every normalised path seen so far, and whether it is a directory.
    seen: HashMap<PathBuf, bool>,
    manifest: Option<Vec<u8>>,
    entries: u64,
    pending: Pending,
    /// The last entry name read, for errors that happen between entries.
    last: Option<String>,
    /// Set when an entry's data ended early while the sink was reading it.
    truncated: bool,
}

impl State<'_> {
    fn tar_error(&self, source: io::Error) -> ArchiveError {
        let where_ = match &self.last {
            Some(name) => format!("after entry {name:?}"),
            None => "at the first entry".to_string(),
        };
        ArchiveError::Tar { where_, source }
    }
}

/// Read an ACI in one pass. Every entry is validated (names, layout, duplicates, PAX
/// consistency, hard-link targets); each `rootfs` entry (the rootfs itself first, with an empty
/// path) is passed to `sink` with its data, of which the sink may read any part. The image ID
/// covers the whole decompressed stream, which is read to its end.
pub fn read_archive<E: From<ArchiveError>>(
    input: impl Read + Send,
    opts: &ReadOptions,
    mut sink: impl FnMut(&EntryHeader, &mut dyn Read) -> Result<(), E>,
) -> Result<ArchiveInfo, E> {
    let (compression, decoder) = decompress(BufReader::with_capacity(BUF_SIZE, input))?;
    let mut state = State {
        opts,
        seen: HashMap::new(),
        manifest: None,
        entries: 0,
        pending: Pending::default(),
        last: None,
        truncated: false,
    };
    // While rendering, the consumer writes files: the producer takes the image hash then.
    let limit = opts.max_uncompressed_size;
    let (drained, done) = pipelined(decoder, limit, opts.want_entries, |chunks| {
        let mut archive = tar::Archive::new(chunks);
        let walked = walk(&mut archive, &mut state, &mut sink);
        let mut stream = archive.into_inner();
        // Hash what follows the end-of-archive marker too: the ID is of the whole stream.
        let drained = walked.and_then(|()| {
            io::copy(&mut stream, &mut io::sink())
                .map(drop)
                .map_err(|e| Stop::Archive(ArchiveError::Io(e)))
        });
        (drained, stream.into_tally())
    });
    // The decompressor's own failure (or the limit) is the real cause of any later error.
    match (done.tripped, drained) {
        (Some(GuardTrip::Limit(limit)), _) => Err(ArchiveError::TooLarge { limit }.into()),
        (Some(GuardTrip::Failed(source)), _) if compression == super::Compression::None => {
            Err(ArchiveError::Io(source).into())
        }
        (Some(GuardTrip::Failed(source)), _) => Err(ArchiveError::Decompress {
            compression,
            source,
        }
        .into()),
        (None, Err(Stop::Archive(e))) => Err(e.into()),
        (None, Err(Stop::Sink(_))) if state.truncated => Err(state
            .tar_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "entry data is truncated",
            ))
            .into()),
        (None, Err(Stop::Sink(e))) => Err(e),
        (None, Ok(())) => Ok(ArchiveInfo {
            image_id: ImageId::from_digest(&done.digest),
            manifest: state.manifest.ok_or(ArchiveError::MissingManifest)?,
            compression,
            uncompressed_size: done.size,
            entries: state.entries,
        }),
    }
}

/// Hash and validate an image and return its manifest, without looking at rootfs data.
pub fn image_id_and_manifest(
    input: impl Read + Send,
    opts: &ReadOptions,
) -> Result<ArchiveInfo, ArchiveError> {
    let opts = ReadOptions {
        want_entries: false,
        ..opts.clone()
    };
    read_archive(input, &opts, |_, _| Ok::<(), ArchiveError>(()))
}

fn walk<E>(
    archive: &mut tar::Archive<Chunks>,
    state: &mut State<'_>,
    sink: &mut impl FnMut(&EntryHeader, &mut dyn Read) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    // Raw mode: PAX and GNU long-name records come to us and are applied strictly here.
    let entries = archive.entries().map_err(|e| state.tar_error(e))?.raw(true);
    for entry in entries {
        let mut entry = entry.map_err(|e| state.tar_error(e))?;
        let kind = entry.header().entry_type();
        let slot = match kind {
            EntryType::XHeader => &mut state.pending.pax,
            EntryType::GNULongName => &mut state.pending.long_name,
            EntryType::GNULongLink => &mut state.pending.long_link,
            EntryType::XGlobalHeader => {
                return Err(ArchiveError::Unsupported {
                    path: lossy(&entry.header().path_bytes()),
                    what: "a PAX global header".into(),
                }
                .into());
            }
            _ => {
                entry_one(&mut entry, state, sink)?;
                continue;
            }
        };
        if slot.is_some() {
            return Err(ArchiveError::PaxConflict {
                path: lossy(&entry.header().path_bytes()),
                detail: format!("two {kind:?} records describe the same entry"),
            }
            .into());
        }
        let data = read_meta(&mut entry);
        match data {
            Ok(data) => *slot = Some(data),
            Err(e) => return Err(state.tar_error(e).into()),
        }
    }
    if !state.pending.is_empty() {
        let e = io::Error::other("extension records at the end describe no entry");
        return Err(state.tar_error(e).into());
    }
    Ok(())
}

fn read_meta(entry: &mut RawEntry<'_>) -> io::Result<Vec<u8>> {
    let size = entry.size();
    if size > MAX_META_SIZE {
        return Err(io::Error::other(format!(
            "an extension record of {size} bytes is over the {MAX_META_SIZE}-byte limit"
        )));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry.read_to_end(&mut data)?;
    if data.len() as u64 != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "extension record is truncated",
        ));
    }
    Ok(data)
}

/// The name, link name and PAX records of one real entry, extension records applied.
struct Names {
    raw: Vec<u8>,
    link: Option<Vec<u8>>,
    pax: PaxRecords,
}

fn resolve_names(entry: &RawEntry<'_>, pending: Pending) -> Result<Names, ArchiveError> {
    let header = entry.header();
    let header_name = lossy(&header.path_bytes());
    let pax = match pending.pax.as_deref().map(pax::parse).transpose() {
        Ok(p) => p.unwrap_or_default(),
        Err(problem) => return Err(pax_error(header_name, problem)),
    };
    // GNU data is NUL-terminated; a second NUL is left for the name check to refuse.
    let strip = |mut v: Vec<u8>| {
        if v.last() == Some(&0) {
            v.pop();
        }
        v
    };
    let long_name = pending.long_name.map(strip);
    let long_link = pending.long_link.map(strip);
    let pick = |from_pax: &Option<Vec<u8>>, gnu: Option<Vec<u8>>, what: &str| match (from_pax, gnu)
    {
        (Some(p), Some(g)) if *p != g => Err(ArchiveError::PaxConflict {
            path: header_name.clone(),
            detail: format!("the PAX {what} and the GNU long {what} differ"),
        }),
        (Some(p), _) => Ok(Some(p.clone())),
        (None, g) => Ok(g),
    };
    let raw =
        pick(&pax.path, long_name, "name")?.unwrap_or_else(|| header.path_bytes().into_owned());
    let link = pick(&pax.linkpath, long_link, "link name")?
        .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
    Ok(Names { raw, link, pax })
}

fn pax_error(path: String, problem: PaxProblem) -> ArchiveError {
    match problem {
        PaxProblem::Malformed(detail) => ArchiveError::BadPax { path, detail },
        PaxProblem::Conflict(detail) => ArchiveError::PaxConflict { path, detail },
        PaxProblem::Unsupported(what) => ArchiveError::Unsupported { path, what },
    }
}

/// Validate one real (non-extension) entry and route it: manifest, or rootfs to the sink.
fn entry_one<E>(
    entry: &mut RawEntry<'_>,
    state: &mut State<'_>,
    sink: &mut impl FnMut(&EntryHeader, &mut dyn Read) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let names = resolve_names(entry, std::mem::take(&mut state.pending))?;
    let name = lossy(&names.raw);
    state.last = Some(name.clone());
    let header = entry.header();
    let kind = header.entry_type();
    let size = header.entry_size().map_err(|e| state.tar_error(e))?;
    if let Some(pax_size) = names.pax.size.filter(|s| *s != size) {
        return Err(ArchiveError::PaxConflict {
            path: name,
            detail: format!("PAX size {pax_size} differs from the header size {size}"),
        }
        .into());
    }
    let place = place_of(&names.raw, kind)?;
    let is_dir = kind == EntryType::Directory;
    if state
        .seen
        .insert(place.full().to_path_buf(), is_dir)
        .is_some()
    {
        return Err(ArchiveError::Duplicate { path: name }.into());
    }
    state.entries += 1;
    match place {
        Place::Manifest(_) => {
            state.manifest = Some(read_manifest(entry, &name, size, state)?);
            Ok(())
        }
        Place::Rootfs { rel, .. } => {
            let eh = layout::entry_header(entry, &names, rel, size, state)?;
            if !state.opts.want_entries {
                return Ok(());
            }
            let data_len = if eh.kind == EntryKind::File { size } else { 0 };
            let mut data = Exact {
                inner: entry.take(data_len),
                left: data_len,
                truncated: false,
            };
            let res = sink(&eh, &mut data);
            state.truncated = data.truncated;
            res.map_err(Stop::Sink)
        }
    }
}

fn read_manifest(
    entry: &mut RawEntry<'_>,
    name: &str,
    size: u64,
    state: &State<'_>,
) -> Result<Vec<u8>, ArchiveError> {
    let kind = entry.header().entry_type();
    if !matches!(kind, EntryType::Regular | EntryType::Continuous) {
        return Err(ArchiveError::ManifestNotFile {
            path: name.to_string(),
            found: layout::kind_name(kind),
        });
    }
    let limit = state.opts.max_manifest_size;
    if size > limit {
        return Err(ArchiveError::ManifestTooLarge { size, limit });
    }
    let mut data = Vec::with_capacity(size as usize);
    entry
        .read_to_end(&mut data)
        .map_err(|e| state.tar_error(e))?;
    if data.len() as u64 != size {
        let e = io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the manifest data is truncated",
        );
        return Err(state.tar_error(e));
    }
    Ok(data)
}

/// An entry's data that fails, rather than ending quietly, when the archive ends before `left`
/// bytes came (so a sink never writes a silently short file).
struct Exact<R> {
    inner: R,
    left: u64,
    truncated: bool,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.truncated = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "entry data is truncated",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
