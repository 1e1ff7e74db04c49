//! Compression detection by magic number (never by file name) and the matching codecs.

use std::fmt;
use std::io::{self, BufRead, Cursor, Read, Write};

use super::ArchiveError;

/// How an ACI's tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "tar",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
        })
    }
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const BZIP2_MAGIC: &[u8] = b"BZh";
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const USTAR_OFFSET: usize = 257;
const USTAR_MAGIC: &[u8] = b"ustar";
/// Bytes needed to tell every format apart (the ustar magic ends at 262).
const PEEK_LEN: usize = USTAR_OFFSET + USTAR_MAGIC.len();

impl Compression {
    /// Identify the format from the first bytes of a file; `head` may be shorter than needed
    /// only when the whole input is that short.
    pub fn detect(head: &[u8]) -> Result<Compression, ArchiveError> {
        if head.starts_with(GZIP_MAGIC) {
            Ok(Compression::Gzip)
        } else if head.starts_with(BZIP2_MAGIC) {
            Ok(Compression::Bzip2)
        } else if head.starts_with(XZ_MAGIC) {
            Ok(Compression::Xz)
        } else if head.get(USTAR_OFFSET..PEEK_LEN) == Some(USTAR_MAGIC) {
            Ok(Compression::None)
        } else {
            Err(ArchiveError::UnknownFormat {
                head: hex::encode(&head[..head.len().min(8)]),
            })
        }
    }
}

/// Peek at the start of `r` (looping, since one `fill_buf` may return only a few bytes), detect
/// the compression and return a reader of the decompressed tar stream.
///
/// Multi-member gzip, multi-stream bzip2 and multi-stream xz are read to the end of the input.
pub fn decompress<'a>(
    mut r: impl BufRead + Send + 'a,
) -> Result<(Compression, Box<dyn Read + Send + 'a>), ArchiveError> {
    let mut head = Vec::with_capacity(PEEK_LEN);
    while head.len() < PEEK_LEN {
        let buf = match r.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ArchiveError::Io(e)),
        };
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(PEEK_LEN - head.len());
        head.extend_from_slice(&buf[..n]);
        r.consume(n);
    }
    let compression = Compression::detect(&head)?;
    let stream = Cursor::new(head).chain(r);
    let reader: Box<dyn Read + Send + 'a> = match compression {
        Compression::None => Box::new(stream),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(stream)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(stream)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(stream)),
    };
    Ok((compression, reader))
}

/// A compressing writer whose output is fully deterministic for a given input (gzip: mtime 0,
/// no file name).
pub(crate) enum Encoder<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Bzip2(bzip2::write::BzEncoder<W>),
    Xz(liblzma::write::XzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    pub(crate) fn new(out: W, compression: Compression) -> Self {
        match compression {
            Compression::None => Encoder::None(out),
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(out, flate2::Compression::default()),
            ),
            Compression::Bzip2 => Encoder::Bzip2(bzip2::write::BzEncoder::new(
                out,
                bzip2::Compression::best(),
            )),
            Compression::Xz => Encoder::Xz(liblzma::write::XzEncoder::new(out, 6)),
        }
    }

    /// Write the compressed stream's trailer and return the output.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(mut w) => w.flush().map(|()| w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Bzip2(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Bzip2(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Bzip2(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call, like a slow network stream.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn detects_by_magic() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]).unwrap(),
            Compression::Gzip
        );
        assert_eq!(Compression::detect(b"BZh91AY").unwrap(), Compression::Bzip2);
        assert_eq!(Compression::detect(XZ_MAGIC).unwrap(), Compression::Xz);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(Compression::detect(&tar).unwrap(), Compression::None);
        assert!(matches!(
            Compression::detect(b""),
            Err(ArchiveError::UnknownFormat { .. })
        ));
        assert!(matches!(
            Compression::detect(&[0u8; 600]),
            Err(ArchiveError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn peeks_across_short_reads() {
        let mut tar = vec![7u8; 1024];
        tar[257..262].copy_from_slice(b"ustar");
        // A 1-byte buffer makes every fill_buf return a single byte.
        let r = io::BufReader::with_capacity(1, Trickle(&tar));
        let (c, mut out) = decompress(r).unwrap();
        assert_eq!(c, Compression::None);
        let mut all = Vec::new();
        out.read_to_end(&mut all).unwrap();
        assert_eq!(all, tar, "the peeked bytes must be replayed");
    }

    #[test]
    fn encoders_round_trip() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
        ] {
            let mut payload = vec![0u8; 4096];
            payload[257..262].copy_from_slice(b"ustar");
            let mut enc = Encoder::new(Vec::new(), c);
            enc.write_all(&payload).unwrap();
            let bytes = enc.finish().unwrap();
            let (got, mut r) = decompress(&bytes[..]).unwrap();
            assert_eq!(got, c);
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, payload, "{c}");
        }
    }
}
