//! Resumable downloads into `cas/tmp/downloads/`.
//!
//! A download goes to `<hash of URL>.part`, locked while written; its validator (ETag) is kept
//! beside it in `.part.json`. When a run is cut off, the next one asks only for the rest
//! (`Range: bytes=N-` with `If-Range: <etag>`): a server that still has the same entity answers
//! 206 and the bytes are appended, one that changed it answers 200 and the file starts over.
//! Without a validator nothing is resumed, since the pieces could be of different versions.
//! A finished download is handed out as [`Downloaded::Complete`], removed when dropped: nothing
//! in here ever reaches the store unverified.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{HttpClient, RemoteError};
use crate::fetch::Progress;
use crate::fsutil::{FileLock, LockMode};

/// What a download came to.
pub enum Downloaded {
    /// The server said the copy we have (`If-None-Match`) is current.
    NotModified {
        validators: Validators,
    },
    Complete(CompleteDownload),
}

/// Cache facts of a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    /// `Cache-Control: max-age`, seconds; None when absent or when the server forbids caching.
    pub max_age: Option<u64>,
}

/// A finished download: the whole body in a locked temp file, removed on drop.
pub struct CompleteDownload {
    lock: FileLock,
    pub url: String,
    pub size: u64,
    pub validators: Validators,
}

impl CompleteDownload {
    /// The file, positioned at its start.
    pub fn file(&self) -> io::Result<&File> {
        let mut f = self.lock.file();
        f.seek(SeekFrom::Start(0))?;
        Ok(self.lock.file())
    }

    pub fn path(&self) -> &Path {
        self.lock.path()
    }
}

impl Drop for CompleteDownload {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.lock.path());
    }
}

#[derive(Serialize, Deserialize)]
struct PartMeta {
    url: String,
    etag: String,
}

/// Download `url` into `tmp_dir/downloads/`, resuming a partial copy, refusing more than
/// `limit` bytes. `if_none_match` is the ETag of the copy already in the store, if any.
pub fn download(
    client: &HttpClient,
    url: &str,
    tmp_dir: &Path,
    limit: u64,
    if_none_match: Option<&str>,
    progress: Option<Arc<dyn Progress>>,
) -> Result<Downloaded, RemoteError> {
    let dir = tmp_dir.join("downloads");
    crate::fsutil::create_dir_all(&dir, 0o700).map_err(io_err(&dir, "create"))?;
    let stem = hex::encode(&Sha256::digest(url.as_bytes())[..16]);
    let part_path = dir.join(format!("{stem}.part"));
    let meta_path = dir.join(format!("{stem}.part.json"));
    let part = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&part_path)
        .map_err(io_err(&part_path, "open"))?;
    let lock = FileLock::try_lock_file(part, &part_path, LockMode::Exclusive).map_err(|_| {
        RemoteError::Busy {
            url: url.to_string(),
            path: part_path.clone(),
        }
    })?;
    let have = lock
        .file()
        .metadata()
        .map_err(io_err(&part_path, "stat"))?
        .len();
    let mut resume = read_meta(&meta_path)
        .filter(|m| m.url == url && have > 0)
        .map(|m| (have, m.etag));
    let mut headers = Vec::new();
    if let Some(tag) = if_none_match {
        headers.push(("If-None-Match", tag.to_string()));
    }
    if let Some((from, etag)) = &resume {
        tracing::debug!(url, from, "resuming a partial download");
        headers.push(("Range", format!("bytes={from}-")));
        headers.push(("If-Range", etag.clone()));
    }
    let resp = match client.get(url, &headers) {
        // 416: the part no longer fits the entity (it shrank, or the part is corrupt): the
        // part is useless, so start over instead of failing the fetch for good.
        Err(RemoteError::Status { status: 416, .. }) if resume.is_some() => {
            tracing::debug!(url, "416 to a resume request: downloading from the start");
            let _ = fs::remove_file(&meta_path);
            resume = None;
            headers.retain(|(k, _)| *k != "Range" && *k != "If-Range");
            client.get(url, &headers)?
        }
        other => other?,
    };
    let validators = validators_of(&resp);
    if resp.status == 304 {
        return Ok(Downloaded::NotModified { validators });
    }
    let start = match (resp.status, &resume) {
        (206, Some((from, _))) => {
            check_content_range(url, resp.header("content-range"), *from)?;
            *from
        }
        (206, None) => {
            return Err(RemoteError::BadRange {
                url: url.to_string(),
                reason: "206 to a request without Range".into(),
            });
        }
        _ => 0,
    };
    let file = lock.file();
    file.set_len(start)
        .map_err(io_err(&part_path, "truncate"))?;
    match &validators.etag {
        Some(etag) => {
            let meta = serde_json::to_vec(&PartMeta {
                url: url.to_string(),
                etag: etag.clone(),
            })
            .unwrap_or_default();
            fs::write(&meta_path, meta).map_err(io_err(&meta_path, "write"))?;
        }
        None => {
            let _ = fs::remove_file(&meta_path);
        }
    }
    let expected = resp.content_length().map(|n| n + start);
    if expected.is_some_and(|n| n > limit) {
        discard(&part_path, &meta_path);
        return Err(RemoteError::TooLarge {
            url: url.to_string(),
            limit,
        });
    }
    let secs = client.read_timeout.as_secs();
    // The download lands in the store's filesystem: stop before it runs low.
    let mut space = crate::store::space::SpaceGuard::new(&dir);
    let room = crate::store::space::ensure_room(&dir, expected.unwrap_or(0).saturating_sub(start));
    if let Err(e) = room {
        discard(&part_path, &meta_path);
        return Err(no_space(url, e));
    }
    let size = match copy_body(
        resp,
        file,
        (start, expected, limit, secs),
        progress,
        &mut space,
    ) {
        Ok(n) => n,
        Err(e) => {
            if matches!(e, RemoteError::TooLarge { .. } | RemoteError::Io { .. }) {
                discard(&part_path, &meta_path);
            }
            return Err(e);
        }
    };
    let _ = fs::remove_file(&meta_path);
    Ok(Downloaded::Complete(CompleteDownload {
        lock,
        url: url.to_string(),
        size,
        validators,
    }))
}

/// Append the body at `start`; the partial file stays on a cut connection so it can resume.
fn copy_body(
    resp: super::Response,
    mut file: &File,
    (start, expected, limit, read_timeout_secs): (u64, Option<u64>, u64, u64),
    progress: Option<Arc<dyn Progress>>,
    space: &mut crate::store::space::SpaceGuard,
) -> Result<u64, RemoteError> {
    let url = resp.url.clone();
    file.seek(SeekFrom::Start(start))
        .map_err(io_err(Path::new(&url), "seek in the download of"))?;
    if let Some(p) = &progress {
        p.start(&format!("downloading {url}"), expected.unwrap_or(0));
        p.advance(start);
    }
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = start;
    let result = loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => break Err(error),
        };
        got += n as u64;
        if got > limit {
            break Err(io::Error::other("too large"));
        }
        if let Err(e) = space.charge(n as u64) {
            if let Some(p) = &progress {
                p.finish();
            }
            return Err(no_space(&url, e));
        }
        if let Err(error) = file.write_all(&buf[..n]) {
            if let Some(p) = &progress {
                p.finish();
            }
            return Err(RemoteError::Io {
                path: PathBuf::from(&url),
                action: "write the download of",
                error,
            });
        }
        if let Some(p) = &progress {
            p.advance(n as u64);
        }
    };
    if let Some(p) = &progress {
        p.finish();
    }
    let _ = file.flush();
    if got > limit {
        return Err(RemoteError::TooLarge { url, limit });
    }
    if let Err(e) = &result
        && matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    {
        return Err(RemoteError::Stalled {
            url,
            secs: read_timeout_secs,
        });
    }
    match (result, expected) {
        (Ok(()), Some(exp)) if got < exp => Err(RemoteError::Truncated {
            url,
            got,
            expected: exp,
        }),
        (Ok(()), _) => Ok(got),
        (Err(_), Some(exp)) if got < exp && got > start => Err(RemoteError::Truncated {
            url,
            got,
            expected: exp,
        }),
        (Err(error), _) => Err(RemoteError::Read { url, error }),
    }
}

/// Remove the partial downloads under `tmp_dir/downloads/` last written more than `older_than`
/// ago (with their `.part.json`), skipping those a fetch is writing (locked). Returns the
/// paths removed.
pub fn remove_stale(tmp_dir: &Path, older_than: Duration) -> Result<Vec<PathBuf>, RemoteError> {
    let dir = tmp_dir.join("downloads");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&dir, "read")(e)),
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_err(&dir, "read"))?.path();
        if path.extension().is_none_or(|e| e != "part") {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        let age = file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok());
        if age.is_none_or(|a| a < older_than) {
            continue;
        }
        // A live fetch holds the lock: its part is not stale, however old.
        let Ok(_lock) = FileLock::try_lock_file(file, &path, LockMode::Exclusive) else {
            continue;
        };
        let meta = path.with_extension("part.json");
        fs::remove_file(&path).map_err(io_err(&path, "remove"))?;
        let _ = fs::remove_file(meta);
        removed.push(path);
    }
    Ok(removed)
}

fn check_content_range(url: &str, header: Option<&str>, from: u64) -> Result<(), RemoteError> {
    let bad = |reason: String| RemoteError::BadRange {
        url: url.to_string(),
        reason,
    };
    let value = header.ok_or_else(|| bad("206 without Content-Range".into()))?;
    let start = value
        .trim()
        .strip_prefix("bytes ")
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| bad(format!("unreadable Content-Range {value:?}")))?;
    if start != from {
        return Err(bad(format!("asked from byte {from}, got {value:?}")));
    }
    Ok(())
}

fn validators_of(resp: &super::Response) -> Validators {
    Validators {
        etag: resp.header("etag").map(str::to_string),
        max_age: resp.header("cache-control").and_then(max_age),
    }
}

/// `max-age=N` of a Cache-Control value; None with `no-cache`/`no-store` or without it.
pub(crate) fn max_age(value: &str) -> Option<u64> {
    let mut age = None;
    for part in value.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        if part == "no-cache" || part == "no-store" {
            return None;
        }
        if let Some(n) = part.strip_prefix("max-age=") {
            age = n.trim_matches('"').parse().ok();
        }
    }
    age
}

fn read_meta(path: &Path) -> Option<PartMeta> {
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn discard(part: &Path, meta: &Path) {
    let _ = fs::remove_file(part);
    let _ = fs::remove_file(meta);
}

/// The free-space guard's refusal, as the write error it stands for (the part is discarded).
fn no_space(url: &str, e: crate::store::space::SpaceError) -> RemoteError {
    RemoteError::Io {
        path: PathBuf::from(url),
        action: "store the download",
        error: io::Error::new(io::ErrorKind::StorageFull, e.to_string()),
    }
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> RemoteError {
    let path = path.to_path_buf();
    move |error| RemoteError::Io {
        path,
        action,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        assert_eq!(max_age("public, max-age=600"), Some(600));
        assert_eq!(max_age("max-age=60, no-cache"), None);
        assert_eq!(max_age("private"), None);
    }

    #[test]
    fn only_old_unlocked_parts_are_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("downloads");
        fs::create_dir_all(&dir).unwrap();
        let old = dir.join("old.part");
        let busy = dir.join("busy.part");
        let fresh = dir.join("fresh.part");
        for p in [&old, &busy, &fresh] {
            fs::write(p, b"x").unwrap();
        }
        fs::write(dir.join("old.part.json"), b"{}").unwrap();
        let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
        for p in [&old, &busy] {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(two_days_ago)
                .unwrap();
        }
        let _held = FileLock::try_lock_file(File::open(&busy).unwrap(), &busy, LockMode::Exclusive)
            .unwrap();
        let removed = remove_stale(tmp.path(), Duration::from_secs(86_400)).unwrap();
        assert_eq!(removed, vec![old.clone()]);
        assert!(!old.exists() && !dir.join("old.part.json").exists());
        assert!(busy.exists() && fresh.exists());
        assert!(
            remove_stale(&tmp.path().join("none"), Duration::ZERO)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn content_range_must_continue_the_part() {
        assert!(check_content_range("u", Some("bytes 100-199/200"), 100).is_ok());
        assert!(check_content_range("u", Some("bytes 0-199/200"), 100).is_err());
        assert!(check_content_range("u", None, 100).is_err());
    }
}
