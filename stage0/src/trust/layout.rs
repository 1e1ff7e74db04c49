//! The trust store on disk (rkt's layout): `<config>/trustedkeys/root.d/<fingerprint>` and
//! `<config>/trustedkeys/prefix.d/<prefix as path>/<fingerprint>`, in a system and a local config
//! dir. A local file replaces the system file of the same scope and fingerprint; an empty local
//! file masks it.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aci::types::AcIdentifier;

use super::{Location, Scope, TrustError};

/// Prefix trees deeper than this are not walked (AC identifiers are short; a loop is not).
const MAX_PREFIX_DEPTH: usize = 32;

/// The directory that holds the keys of `scope` under one config dir.
pub(crate) fn scope_dir(config: &Path, scope: &Scope) -> PathBuf {
    let base = config.join("trustedkeys");
    match scope {
        Scope::Root => base.join("root.d"),
        // An AcIdentifier has no empty, `.` or `..` component, so this join stays inside.
        Scope::Prefix(p) => p
            .as_str()
            .split('/')
            .fold(base.join("prefix.d"), |d, c| d.join(c)),
    }
}

/// True for a lowercase 40-hex v4 fingerprint, the only file name the store reads as a key.
pub(crate) fn is_fingerprint(name: &str) -> bool {
    name.len() == 40
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One key file that is in force for a scope after local/system merging.
#[derive(Debug, Clone)]
pub(crate) struct KeyFile {
    pub fingerprint: String,
    pub location: Location,
    pub path: PathBuf,
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> TrustError + 'a {
    move |source| TrustError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Fingerprint-named regular files in `dir` with their sizes; a missing dir has none.
fn fingerprint_files(dir: &Path) -> Result<Vec<(String, u64, PathBuf)>, TrustError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir, "read directory")(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir, "read directory"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| is_fingerprint(n)) else {
            continue;
        };
        let path = entry.path();
        let meta = fs::metadata(&path).map_err(io_err(&path, "stat key file"))?;
        if meta.is_file() {
            out.push((name.to_string(), meta.len(), path));
        }
    }
    Ok(out)
}

/// The key files in force for `scope`: system files, then local ones replacing or masking them.
pub(crate) fn read_scope(
    system: &Path,
    local: &Path,
    scope: &Scope,
) -> Result<Vec<KeyFile>, TrustError> {
    let mut keys: BTreeMap<String, KeyFile> = BTreeMap::new();
    for (fingerprint, len, path) in fingerprint_files(&scope_dir(system, scope))? {
        if len > 0 {
            let f = KeyFile {
                fingerprint: fingerprint.clone(),
                location: Location::System,
                path,
            };
            keys.insert(fingerprint, f);
        }
    }
    for (fingerprint, len, path) in fingerprint_files(&scope_dir(local, scope))? {
        if len == 0 {
            keys.remove(&fingerprint);
        } else {
            let f = KeyFile {
                fingerprint: fingerprint.clone(),
                location: Location::Local,
                path,
            };
            keys.insert(fingerprint, f);
        }
    }
    Ok(keys.into_values().collect())
}

/// Every prefix that has a directory under `prefix.d` in either config dir.
pub(crate) fn prefixes(system: &Path, local: &Path) -> Result<Vec<AcIdentifier>, TrustError> {
    let mut found = std::collections::BTreeSet::new();
    for config in [system, local] {
        let root = config.join("trustedkeys").join("prefix.d");
        walk_prefixes(&root, "", 0, &mut found)?;
    }
    Ok(found.into_iter().collect())
}

fn walk_prefixes(
    dir: &Path,
    rel: &str,
    depth: usize,
    found: &mut std::collections::BTreeSet<AcIdentifier>,
) -> Result<(), TrustError> {
    if depth > MAX_PREFIX_DEPTH {
        return Ok(());
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir, "read directory")(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir, "read directory"))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        // Directories only, never through a symlink: a loop or a jump elsewhere is not a prefix.
        let is_dir = entry
            .file_type()
            .map_err(io_err(dir, "read directory"))?
            .is_dir();
        if !is_dir {
            continue;
        }
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if let Ok(id) = AcIdentifier::new(child.clone()) {
            found.insert(id);
            walk_prefixes(&entry.path(), &child, depth + 1, found)?;
        }
    }
    Ok(())
}

/// Read a key file, refusing one larger than `limit`.
pub(crate) fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>, TrustError> {
    let file = File::open(path).map_err(io_err(path, "open key file"))?;
    let mut buf = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(path, "read key file"))?;
    if buf.len() > limit {
        return Err(TrustError::CorruptKeyFile {
            path: path.to_path_buf(),
            reason: format!("larger than the {limit}-byte limit"),
        });
    }
    Ok(buf)
}

/// Create `dir` and its missing parents with mode 0755 (whatever the umask).
pub(crate) fn create_dirs(dir: &Path) -> Result<(), TrustError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(io_err(dir, "create directory")(e)),
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(io_err(dir, "set directory mode"))
}

/// Write `dir/name` atomically with mode 0644: temp file, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<PathBuf, TrustError> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(io_err(&tmp, "create temporary key file"))?;
        f.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io_err(&tmp, "set key file mode"))?;
        f.write_all(data).map_err(io_err(&tmp, "write key file"))?;
        f.sync_all().map_err(io_err(&tmp, "sync key file"))?;
        fs::rename(&tmp, &target).map_err(io_err(&target, "rename key file into place"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir)?;
    Ok(target)
}

/// Make a rename or unlink in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), TrustError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync directory"))
}

/// Normalise what a user typed for a fingerprint: drop spaces and a `0x`, lowercase; it must be
/// 8 to 40 hex digits.
pub(crate) fn normalize_fingerprint_query(query: &str) -> Option<String> {
    let mut s: String = query.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(rest) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        s = rest.to_string();
    }
    let s = s.to_ascii_lowercase();
    let ok = (8..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const FP_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn put(config: &Path, scope: &Scope, name: &str, body: &[u8]) {
        let d = scope_dir(config, scope);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(name), body).unwrap();
    }

    #[test]
    fn scope_dirs_follow_rkt_layout() {
        let p = Scope::Prefix(AcIdentifier::new("example.com/app").unwrap());
        assert_eq!(
            scope_dir(Path::new("/etc/rkt"), &p),
            Path::new("/etc/rkt/trustedkeys/prefix.d/example.com/app")
        );
        assert_eq!(
            scope_dir(Path::new("/usr/lib/rkt"), &Scope::Root),
            Path::new("/usr/lib/rkt/trustedkeys/root.d")
        );
    }

    #[test]
    fn local_replaces_and_empty_local_masks() {
        let t = tempfile::tempdir().unwrap();
        let (sys, loc) = (t.path().join("sys"), t.path().join("loc"));
        put(&sys, &Scope::Root, FP_A, b"system a");
        put(&sys, &Scope::Root, FP_B, b"system b");
        put(&loc, &Scope::Root, FP_A, b"local a");
        put(&loc, &Scope::Root, FP_B, b"");
        put(&loc, &Scope::Root, "not-a-key", b"x");
        let keys = read_scope(&sys, &loc, &Scope::Root).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].fingerprint, FP_A);
        assert_eq!(keys[0].location, Location::Local);
        assert_eq!(fs::read(&keys[0].path).unwrap(), b"local a");
    }

    #[test]
    fn prefixes_are_walked_in_both_dirs() {
        let t = tempfile::tempdir().unwrap();
        let (sys, loc) = (t.path().join("sys"), t.path().join("loc"));
        let app = Scope::Prefix(AcIdentifier::new("example.com/app").unwrap());
        let other = Scope::Prefix(AcIdentifier::new("other.org").unwrap());
        put(&sys, &app, FP_A, b"k");
        put(&loc, &other, FP_B, b"k");
        let found: Vec<String> = prefixes(&sys, &loc)
            .unwrap()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(found, ["example.com", "example.com/app", "other.org"]);
    }

    #[test]
    fn atomic_write_sets_modes_and_leaves_no_temp() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b");
        create_dirs(&dir).unwrap();
        let p = write_atomic(&dir, FP_A, b"key").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"key");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn fingerprint_queries() {
        assert_eq!(
            normalize_fingerprint_query("0xDEADBEEF").as_deref(),
            Some("deadbeef")
        );
        assert_eq!(
            normalize_fingerprint_query("9E9C B8A0 0BC1 3691 5757 BC08 B75F 40CD 93BF D8DB")
                .as_deref(),
            Some("9e9cb8a00bc136915757bc08b75f40cd93bfd8db")
        );
        assert_eq!(normalize_fingerprint_query("abc"), None);
        assert_eq!(normalize_fingerprint_query("../../etc/passwd"), None);
        assert!(is_fingerprint(FP_A));
        assert!(!is_fingerprint(&FP_A.to_uppercase()));
    }
}
