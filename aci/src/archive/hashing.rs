//! Readers and writers that watch the bytes going through them: SHA-512 + size (the image ID),
//! a tee (store the compressed file while hashing the decompressed one), and the limit guard.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha512};

/// Computes the SHA-512 and size of everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha512,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha512::new(),
            size: 0,
        }
    }

    /// Bytes read so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Read the rest of the input (so the digest covers it all), then return the SHA-512 digest
    /// and the total size.
    pub fn finish(mut self) -> io::Result<(Vec<u8>, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher.finalize().to_vec(), self.size))
    }

    /// The digest and size of what has been read, without reading further; and the inner reader.
    pub fn into_parts(self) -> (Vec<u8>, u64, R) {
        (self.hasher.finalize().to_vec(), self.size, self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Computes the SHA-512 and size of everything written through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha512,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha512::new(),
            size: 0,
        }
    }

    pub(crate) fn into_parts(self) -> (Vec<u8>, u64, W) {
        (self.hasher.finalize().to_vec(), self.size, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies every byte read from `R` into `W` (e.g. the compressed image into a temp file while
/// [`super::read_archive`] hashes the decompressed stream). A write failure fails the read.
pub struct TeeReader<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> TeeReader<R, W> {
    pub fn new(inner: R, copy: W) -> Self {
        TeeReader { inner, copy }
    }

    pub fn into_parts(self) -> (R, W) {
        (self.inner, self.copy)
    }
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Why the guarded stream stopped, so the reader can report the real cause rather than the
/// tar parser's view of it.
#[derive(Debug)]
pub(crate) enum GuardTrip {
    /// More than the limit came out of the decompressor.
    Limit(u64),
    /// The decompressor (or the input under it) failed.
    Failed(io::Error),
}

/// Sits right above the decompressor: counts its output against a limit and remembers its
/// first error.
pub(crate) struct Guard<R> {
    inner: R,
    limit: Option<u64>,
    count: u64,
    pub(crate) tripped: Option<GuardTrip>,
}

impl<R: Read> Guard<R> {
    pub(crate) fn new(inner: R, limit: Option<u64>) -> Self {
        Guard {
            inner,
            limit,
            count: 0,
            tripped: None,
        }
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(GuardTrip::Limit(limit)) = self.tripped {
            return Err(io::Error::other(format!("over the {limit}-byte limit")));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.tripped.get_or_insert(GuardTrip::Failed(e));
                return Err(copy);
            }
        };
        self.count += n as u64;
        if let Some(limit) = self.limit.filter(|l| self.count > *l) {
            self.tripped = Some(GuardTrip::Limit(limit));
            return Err(io::Error::other(format!("over the {limit}-byte limit")));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_reader_drains_and_hashes_all() {
        let data = vec![42u8; 300_000];
        let mut r = HashingReader::new(&data[..]);
        let mut first = [0u8; 10];
        r.read_exact(&mut first).unwrap();
        let (digest, size) = r.finish().unwrap();
        assert_eq!(size, 300_000);
        assert_eq!(digest, Sha512::digest(&data).to_vec());
    }

    #[test]
    fn tee_copies_everything_read() {
        let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let mut copy = Vec::new();
        let mut t = TeeReader::new(&data[..], &mut copy);
        io::copy(&mut t, &mut io::sink()).unwrap();
        assert_eq!(copy, data);
    }

    #[test]
    fn guard_trips_on_limit() {
        let data = vec![0u8; 1000];
        let mut g = Guard::new(&data[..], Some(999));
        assert!(io::copy(&mut g, &mut io::sink()).is_err());
        assert!(matches!(g.tripped, Some(GuardTrip::Limit(999))));
        let mut g = Guard::new(&data[..], Some(1000));
        assert_eq!(io::copy(&mut g, &mut io::sink()).unwrap(), 1000);
        assert!(g.tripped.is_none());
    }
}
