//! Decompression on its own thread: the decompressor (and the input under it) fills reusable
//! chunks that a bounded channel hands to the tar parser, so inflating overlaps parsing,
//! extracting and hashing on a second core, the way `tar -xzf` overlaps with its `gzip`.
//!
//! Memory stays bounded: [`POOL`] chunks of [`CHUNK`] bytes circulate between the two sides
//! (the consumer returns each chunk once it has read it). The limit guard sits on the producer
//! side, right above the decompressor, and its verdict comes back with the producer's result;
//! the consumer sees a copy of the failure in the stream at the point it happened.
//!
//! The SHA-512 of the decompressed stream (the image ID) is taken on whichever side has less to
//! do: the producer's while rendering (the consumer writes files), the consumer's otherwise.
//! An input whose whole stream fits in the first chunk is read on the caller's thread alone.

use std::io::{self, Read};
use std::mem;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use sha2::{Digest, Sha512};

use super::hashing::{Guard, GuardTrip};

/// Bytes per chunk: large enough that channel hand-offs cost nothing next to inflating.
pub(super) const CHUNK: usize = 256 * 1024;
/// Chunks in circulation, so at most `POOL * CHUNK` bytes are decompressed ahead.
pub(super) const POOL: usize = 4;

/// A filled chunk and how many of its bytes are data, or the failure that ended the stream.
type Msg = Result<(Vec<u8>, usize), io::Error>;

/// SHA-512 and size of the decompressed stream.
pub(super) struct Tally {
    hasher: Sha512,
    size: u64,
}

impl Tally {
    fn new() -> Self {
        Tally {
            hasher: Sha512::new(),
            size: 0,
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.size += data.len() as u64;
    }
}

/// What the pass learned about the decompressed stream once both sides are done.
pub(super) struct Finished {
    pub(super) digest: Vec<u8>,
    /// Bytes the consumer saw (the whole stream when it read to the end).
    pub(super) size: u64,
    /// The guard's verdict: the limit, or the decompressor's own failure.
    pub(super) tripped: Option<GuardTrip>,
}

/// How a fill ended.
enum Fill {
    /// The chunk is full; more may follow.
    More,
    Eof,
    Failed(io::Error),
}

/// Read into `buf` until it is full, the input ends or fails.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> (usize, Fill) {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => return (n, Fill::Eof),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Fill::Failed(e)),
        }
    }
    (n, Fill::More)
}

/// The consumer's side: a reader over the chunks as they arrive.
pub(super) struct Chunks {
    /// None once the stream ended (or in the single-thread case, from the start).
    full: Option<Receiver<Msg>>,
    /// Where read chunks go back to the producer for reuse.
    spent: Option<SyncSender<Vec<u8>>>,
    cur: Vec<u8>,
    len: usize,
    pos: usize,
    /// A failure to report once `cur` is read (single-thread case).
    failed: Option<io::Error>,
    /// Set when the consumer takes the image hash.
    tally: Option<Tally>,
}

impl Chunks {
    /// Take the next chunk; false at the end of the stream.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let Some(full) = &self.full else {
            return self.failed.take().map_or(Ok(false), Err);
        };
        match full.recv() {
            Ok(Ok((buf, len))) => {
                if let Some(t) = &mut self.tally {
                    t.update(&buf[..len]);
                }
                let old = mem::replace(&mut self.cur, buf);
                (self.len, self.pos) = (len, 0);
                if let Some(spent) = self.spent.as_ref().filter(|_| !old.is_empty()) {
                    // The producer may be gone (it stops after the last chunk): nothing to do.
                    let _ = spent.try_send(old);
                }
                Ok(true)
            }
            Ok(Err(e)) => {
                self.full = None;
                Err(e)
            }
            Err(_) => {
                self.full = None;
                Ok(false)
            }
        }
    }
}

impl Chunks {
    /// The consumer's hash, if it took it; dropping the rest stops the producer.
    pub(super) fn into_tally(self) -> Option<Tally> {
        self.tally
    }
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.len {
            if out.is_empty() || !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Run `consume` over the decompressed stream of `decoder`, decompressing on a second thread
/// when the stream is longer than one chunk. `hash_in_producer` says which side takes the
/// image hash. `consume` must drop the reader when done (it does, taking it by value), which
/// stops a producer still running.
pub(super) fn pipelined<'a, T>(
    decoder: Box<dyn Read + Send + 'a>,
    limit: Option<u64>,
    hash_in_producer: bool,
    consume: impl FnOnce(Chunks) -> (T, Option<Tally>),
) -> (T, Finished) {
    let mut guard = Guard::new(decoder, limit);
    let mut first = vec![0u8; CHUNK];
    let (n, status) = fill(&mut guard, &mut first);
    let mut tally = Tally::new();
    let failed = match status {
        Fill::More => None,
        Fill::Eof => Some(None),
        Fill::Failed(e) => Some(Some(e)),
    };
    if let Some(failed) = failed {
        // The whole stream (or all of it before a failure) is here: no thread needed.
        tally.update(&first[..n]);
        let chunks = Chunks {
            full: None,
            spent: None,
            cur: first,
            len: n,
            pos: 0,
            failed,
            tally: None,
        };
        let (out, _) = consume(chunks);
        let finished = Finished {
            digest: tally.hasher.finalize().to_vec(),
            size: tally.size,
            tripped: guard.tripped,
        };
        return (out, finished);
    }
    let (full_tx, full_rx) = sync_channel::<Msg>(POOL);
    let (spent_tx, spent_rx) = sync_channel::<Vec<u8>>(POOL + 1);
    let producer_tally = hash_in_producer.then(|| {
        tally.update(&first);
        tally
    });
    let consumer_tally = (!hash_in_producer).then(Tally::new);
    // Cannot fail: the channel is empty and has room for POOL chunks.
    let _ = full_tx.send(Ok((first, n)));
    let chunks = Chunks {
        full: Some(full_rx),
        spent: Some(spent_tx),
        cur: Vec::new(),
        len: 0,
        pos: 0,
        failed: None,
        tally: consumer_tally,
    };
    thread::scope(|s| {
        let producer = s.spawn(move || produce(guard, producer_tally, full_tx, spent_rx));
        let (out, consumer_tally) = consume(chunks);
        let (producer_tally, tripped) = match producer.join() {
            Ok(done) => done,
            // A panic in the decompressor is a bug; surface it where it belongs.
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let tally = producer_tally.or(consumer_tally).unwrap_or_else(Tally::new);
        let finished = Finished {
            digest: tally.hasher.finalize().to_vec(),
            size: tally.size,
            tripped,
        };
        (out, finished)
    })
}

/// The producer's loop: fill chunks until the stream ends, fails, or the consumer goes away.
fn produce(
    mut guard: Guard<Box<dyn Read + Send + '_>>,
    mut tally: Option<Tally>,
    full: SyncSender<Msg>,
    spent: Receiver<Vec<u8>>,
) -> (Option<Tally>, Option<GuardTrip>) {
    // The first chunk is already in flight; the others are made on demand.
    let mut unmade = POOL - 1;
    loop {
        let mut buf = if unmade > 0 {
            unmade -= 1;
            vec![0u8; CHUNK]
        } else {
            match spent.recv() {
                Ok(buf) => buf,
                Err(_) => break, // The consumer stopped reading.
            }
        };
        let (n, status) = fill(&mut guard, &mut buf);
        if let Some(t) = &mut tally {
            t.update(&buf[..n]);
        }
        if n > 0 && full.send(Ok((buf, n))).is_err() {
            break;
        }
        match status {
            Fill::More => {}
            Fill::Eof => break,
            Fill::Failed(e) => {
                let _ = full.send(Err(e));
                break;
            }
        }
    }
    (tally, guard.tripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(mut chunks: Chunks) -> (io::Result<Vec<u8>>, Option<Tally>) {
        let mut out = Vec::new();
        let r = chunks.read_to_end(&mut out).map(|_| out);
        (r, chunks.into_tally())
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn streams_and_hashes_on_either_side() {
        for len in [0, 10, CHUNK, CHUNK + 1, 10 * CHUNK + 77] {
            for in_producer in [false, true] {
                let input = data(len);
                let reader: Box<dyn Read + Send> = Box::new(io::Cursor::new(input.clone()));
                let (got, done) = pipelined(reader, None, in_producer, read_all);
                assert_eq!(got.unwrap(), input, "len {len}");
                assert_eq!(done.size, len as u64);
                assert_eq!(done.digest, Sha512::digest(&input).to_vec(), "len {len}");
                assert!(done.tripped.is_none());
            }
        }
    }

    /// Yields `good` bytes, then fails.
    struct Breaks(usize);
    impl Read for Breaks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt block"));
            }
            let n = buf.len().min(self.0).min(1000);
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn failures_and_the_limit_come_back() {
        for good in [5, 3 * CHUNK + 5] {
            let (got, done) = pipelined(Box::new(Breaks(good)), None, false, read_all);
            let e = got.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
            assert!(matches!(done.tripped, Some(GuardTrip::Failed(_))));
        }
        let reader: Box<dyn Read + Send> = Box::new(io::repeat(0));
        let (got, done) = pipelined(reader, Some(5 * CHUNK as u64), true, read_all);
        assert!(got.is_err());
        assert!(matches!(done.tripped, Some(GuardTrip::Limit(_))));
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_producer() {
        // An endless input: the call returns only if dropping the reader ends the producer.
        let reader: Box<dyn Read + Send> = Box::new(io::repeat(3));
        let (first, _) = pipelined(reader, None, false, |mut c| {
            let mut b = [0u8; 4];
            (c.read_exact(&mut b).map(|()| b), None)
        });
        assert_eq!(first.unwrap(), [3; 4]);
    }
}
