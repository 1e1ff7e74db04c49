//! The free-space guard: image data written into the store (downloads, staged blobs, rendered
//! trees, layer blobs and trees) stops before the store's filesystem drops below a safety
//! margin, so a large or hostile image fails with a clear error instead of filling the disk
//! that the host (and every other pod) lives on.
//!
//! The margin is 5% of the filesystem, capped at 1 GiB: big enough to leave room for logs and
//! journal on a small disk, small enough not to refuse images on a big one.
//! Checks are batched: [`SpaceGuard::charge`] asks the filesystem (statvfs) once per
//! [`CHECK_EVERY`] bytes written, so the margin can be undercut by at most that much.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes written between two statvfs calls.
pub const CHECK_EVERY: u64 = 8 << 20;

/// Upper bound of the safety margin.
pub const MAX_MARGIN: u64 = 1 << 30;

/// Writing would take the filesystem below its safety margin (or it could not be asked).
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    #[error(
        "not enough free space on the filesystem of {path}: {} free, {} more needed and {} \
         kept free as a safety margin; free some space (e.g. `rkt image gc`) or use a data \
         directory on a larger filesystem (--dir)",
        human(*.available), human(*.needed), human(*.margin)
    )]
    Low {
        path: PathBuf,
        available: u64,
        needed: u64,
        margin: u64,
    },
    #[error("cannot find the free space of the filesystem of {path}: {source}")]
    Statvfs {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Free and total bytes (for unprivileged users' writes) of the filesystem holding `path`.
pub fn free_space(path: &Path) -> Result<(u64, u64), SpaceError> {
    let st = rustix::fs::statvfs(path).map_err(|e| SpaceError::Statvfs {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    let unit = st.f_frsize.max(1);
    Ok((
        st.f_bavail.saturating_mul(unit),
        st.f_blocks.saturating_mul(unit),
    ))
}

/// The margin kept free on a filesystem of `total` bytes.
pub fn margin_for(total: u64) -> u64 {
    (total / 20).min(MAX_MARGIN)
}

/// Refuse when writing `needed` more bytes below `path` would leave less than the margin.
pub fn ensure_room(path: &Path, needed: u64) -> Result<(), SpaceError> {
    let (available, total) = free_space(path)?;
    let margin = margin_for(total);
    if available < needed.saturating_add(margin) {
        return Err(SpaceError::Low {
            path: path.to_path_buf(),
            available,
            needed,
            margin,
        });
    }
    Ok(())
}

/// Counts bytes about to be written below `path` and checks the filesystem every
/// [`CHECK_EVERY`] bytes.
#[derive(Debug, Clone)]
pub struct SpaceGuard {
    path: PathBuf,
    unchecked: u64,
}

impl SpaceGuard {
    pub fn new(path: &Path) -> SpaceGuard {
        SpaceGuard {
            path: path.to_path_buf(),
            unchecked: 0,
        }
    }

    /// Account for `n` bytes about to be written; fails when they (with what was written since
    /// the last check) would take the filesystem below the margin.
    pub fn charge(&mut self, n: u64) -> Result<(), SpaceError> {
        self.unchecked = self.unchecked.saturating_add(n);
        if self.unchecked < CHECK_EVERY {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.unchecked);
        ensure_room(&self.path, pending)
    }

    /// [`SpaceGuard::charge`] as an `io::Error` of kind `StorageFull`, for use inside readers and
    /// writers; the message is the whole explanation.
    pub fn charge_io(&mut self, n: u64) -> io::Result<()> {
        self.charge(n)
            .map_err(|e| io::Error::new(io::ErrorKind::StorageFull, e.to_string()))
    }
}

/// A writer that checks the free space as it writes; the first refusal is kept in `refused`
/// so the caller can report it instead of the I/O error it caused.
pub struct GuardedWrite<W> {
    inner: W,
    guard: SpaceGuard,
    pub refused: Option<SpaceError>,
}

impl<W> GuardedWrite<W> {
    pub fn new(inner: W, guard: SpaceGuard) -> Self {
        GuardedWrite {
            inner,
            guard,
            refused: None,
        }
    }
}

impl<W: Write> Write for GuardedWrite<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Err(e) = self.guard.charge(buf.len() as u64) {
            let msg = e.to_string();
            self.refused.get_or_insert(e);
            return Err(io::Error::new(io::ErrorKind::StorageFull, msg));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader whose bytes are about to be written to disk (an unpacked layer): it checks the
/// free space as they pass.
pub struct GuardedRead<R> {
    pub inner: R,
    guard: SpaceGuard,
    pub refused: Option<SpaceError>,
}

impl<R> GuardedRead<R> {
    pub fn new(inner: R, guard: SpaceGuard) -> Self {
        GuardedRead {
            inner,
            guard,
            refused: None,
        }
    }
}

impl<R: Read> Read for GuardedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.guard.charge(n as u64) {
            let msg = e.to_string();
            self.refused.get_or_insert(e);
            return Err(io::Error::new(io::ErrorKind::StorageFull, msg));
        }
        Ok(n)
    }
}

/// `n` bytes in the largest binary unit that keeps a whole part (`3.2 GiB`, `512 MiB`).
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_five_percent_capped() {
        assert_eq!(margin_for(100 << 20), 5 << 20);
        assert_eq!(margin_for(1 << 40), MAX_MARGIN);
    }

    #[test]
    fn the_filesystem_refuses_more_than_it_has() {
        let dir = tempfile::tempdir().unwrap();
        ensure_room(dir.path(), 0).unwrap();
        let err = ensure_room(dir.path(), u64::MAX / 2).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("safety margin") && msg.contains("--dir"),
            "{msg}"
        );
        let mut g = SpaceGuard::new(dir.path());
        g.charge(1).unwrap();
        assert!(g.charge(u64::MAX / 2).is_err());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(64 << 20), "64 MiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}
