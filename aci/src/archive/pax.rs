//! PAX extended header records (POSIX.1-2001 `pax`): `"<len> <key>=<value>\n"`, where `len`
//! counts the whole record. Parsed here by length, not by line, because xattr values are binary
//! and may contain newlines; and strictly, because two parsers that read one header differently
//! can be made to see two different archives.

/// The records of one local PAX header that matter to an ACI.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PaxRecords {
    pub path: Option<Vec<u8>>,
    pub linkpath: Option<Vec<u8>>,
    pub size: Option<u64>,
    pub uid: Option<u64>,
    pub gid: Option<u64>,
    pub mtime: Option<u64>,
    /// `SCHILY.xattr.<name>` records, in header order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Why a PAX header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PaxProblem {
    Malformed(String),
    Conflict(String),
    Unsupported(String),
}

const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Parse a local PAX header's data.
pub(crate) fn parse(mut data: &[u8]) -> Result<PaxRecords, PaxProblem> {
    let mut out = PaxRecords::default();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    while !data.is_empty() {
        let (key, value, rest) = split_record(data)?;
        data = rest;
        // POSIX lets a later record override an earlier one, but parsers differ on which wins.
        if seen.iter().any(|k| k == key) {
            return Err(PaxProblem::Conflict(format!(
                "record {:?} appears twice",
                String::from_utf8_lossy(key)
            )));
        }
        seen.push(key.to_vec());
        apply(&mut out, key, value)?;
    }
    Ok(out)
}

/// One record split off the data: key, value, and the rest of the data.
type Split<'a> = (&'a [u8], &'a [u8], &'a [u8]);

fn split_record(data: &[u8]) -> Result<Split<'_>, PaxProblem> {
    let bad = |why: &str| PaxProblem::Malformed(why.to_string());
    let space = data
        .iter()
        .take(20)
        .position(|b| *b == b' ')
        .ok_or_else(|| bad("a record does not start with '<length> '"))?;
    let digits = &data[..space];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad("a record length is not a decimal number"));
    }
    let len: usize = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("a record length is out of range"))?;
    if len <= space + 1 || len > data.len() {
        return Err(bad("a record length runs past the header"));
    }
    let (record, rest) = data.split_at(len);
    let body = record[space + 1..]
        .strip_suffix(b"\n")
        .ok_or_else(|| bad("a record does not end with a newline"))?;
    let eq = body
        .iter()
        .position(|b| *b == b'=')
        .ok_or_else(|| bad("a record has no '='"))?;
    if eq == 0 {
        return Err(bad("a record has an empty key"));
    }
    Ok((&body[..eq], &body[eq + 1..], rest))
}

fn apply(out: &mut PaxRecords, key: &[u8], value: &[u8]) -> Result<(), PaxProblem> {
    // An empty value removes the override (POSIX), so the header field applies.
    let present = !value.is_empty();
    match key {
        b"path" => out.path = present.then(|| value.to_vec()),
        b"linkpath" => out.linkpath = present.then(|| value.to_vec()),
        b"size" => out.size = present.then(|| number("size", value)).transpose()?,
        b"uid" => out.uid = present.then(|| number("uid", value)).transpose()?,
        b"gid" => out.gid = present.then(|| number("gid", value)).transpose()?,
        b"mtime" => out.mtime = present.then(|| time(value)).transpose()?,
        _ if key.starts_with(XATTR_PREFIX) => {
            let name = &key[XATTR_PREFIX.len()..];
            if name.is_empty() || name.contains(&0) {
                return Err(PaxProblem::Malformed(
                    "an xattr record has an invalid name".into(),
                ));
            }
            out.xattrs.push((name.to_vec(), value.to_vec()));
        }
        _ if key.starts_with(b"GNU.sparse.") => {
            return Err(PaxProblem::Unsupported("a GNU sparse file".into()));
        }
        // atime, ctime, uname, gname, charset, comment, vendor records: nothing to apply.
        _ => {}
    }
    Ok(())
}

fn number(key: &str, value: &[u8]) -> Result<u64, PaxProblem> {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            PaxProblem::Malformed(format!(
                "{key} {:?} is not a decimal number",
                String::from_utf8_lossy(value)
            ))
        })
}

/// `mtime` is decimal seconds with an optional fraction and sign; times before the epoch are
/// clamped to 0 since entries carry unsigned seconds.
fn time(value: &[u8]) -> Result<u64, PaxProblem> {
    let (neg, v) = match value.strip_prefix(b"-") {
        Some(v) => (true, v),
        None => (false, value),
    };
    let whole = match v.iter().position(|b| *b == b'.') {
        Some(dot) if v[dot + 1..].iter().all(u8::is_ascii_digit) => &v[..dot],
        Some(_) => &v[..0],
        None => v,
    };
    let secs = number("mtime", whole)?;
    Ok(if neg { 0 } else { secs })
}

/// Format one record, finding the self-referential length.
pub(crate) fn record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

pub(crate) fn xattr_record(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut key = XATTR_PREFIX.to_vec();
    key.extend_from_slice(name);
    record(&key, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_known_records() {
        let mut d = record(b"path", b"rootfs/a");
        d.extend(record(b"size", b"12"));
        d.extend(record(b"mtime", b"1500000000.25"));
        d.extend(xattr_record(b"user.x", b"a\nb"));
        d.extend(record(b"atime", b"1"));
        let r = parse(&d).unwrap();
        assert_eq!(r.path.as_deref(), Some(&b"rootfs/a"[..]));
        assert_eq!(r.size, Some(12));
        assert_eq!(r.mtime, Some(1_500_000_000));
        assert_eq!(r.xattrs, vec![(b"user.x".to_vec(), b"a\nb".to_vec())]);
    }

    #[test]
    fn rejects_bad_records() {
        let dup = [record(b"path", b"a"), record(b"path", b"b")].concat();
        assert!(matches!(parse(&dup), Err(PaxProblem::Conflict(_))));
        assert!(matches!(
            parse(b"8 path=ab\n"),
            Err(PaxProblem::Malformed(_))
        ));
        assert!(matches!(
            parse(b"x path=a\n"),
            Err(PaxProblem::Malformed(_))
        ));
        assert!(matches!(
            parse(&record(b"size", b"-1")),
            Err(PaxProblem::Malformed(_))
        ));
        assert!(matches!(
            parse(&record(b"=", b"")),
            Err(PaxProblem::Malformed(_))
        ));
        let sparse = record(b"GNU.sparse.map", b"0,1");
        assert!(matches!(parse(&sparse), Err(PaxProblem::Unsupported(_))));
    }

    #[test]
    fn empty_value_removes_override() {
        assert_eq!(parse(&record(b"size", b"")).unwrap().size, None);
    }

    proptest! {
        #[test]
        fn record_round_trips(value in proptest::collection::vec(any::<u8>(), 0..300)) {
            let r = parse(&xattr_record(b"user.k", &value)).unwrap();
            prop_assert_eq!(r.xattrs, vec![(b"user.k".to_vec(), value)]);
        }
    }
}
