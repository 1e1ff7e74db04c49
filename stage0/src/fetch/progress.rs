//! Progress of long reads, for a progress bar drawn by the CLI (the library draws nothing).

use std::io::{self, Read};
use std::sync::Arc;

/// Told how far reading an image has got.
pub trait Progress: Send + Sync {
    /// A read of `total` bytes (0 when unknown) begins; `what` says what, e.g.
    /// "downloading https://…".
    fn start(&self, what: &str, total: u64);
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// A reader that reports every read to a [`Progress`].
pub(super) struct ProgressReader<R> {
    inner: R,
    progress: Arc<dyn Progress>,
}

impl<R> ProgressReader<R> {
    pub(super) fn new(inner: R, progress: Arc<dyn Progress>, what: &str, total: u64) -> Self {
        progress.start(what, total);
        ProgressReader { inner, progress }
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

impl<R> Drop for ProgressReader<R> {
    fn drop(&mut self) {
        self.progress.finish();
    }
}
