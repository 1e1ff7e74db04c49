//! Volume rules and rkt's `--volume NAME,key=value,...` syntax.

use super::{Volume, VolumeKind};
use crate::manifest::{ManifestError, is_abs, join};
use crate::types::AcName;

impl Volume {
    /// Default mode of an `empty` volume.
    pub const DEFAULT_MODE: &'static str = "0755";

    /// Mode of the directory an `empty` volume creates (default `"0755"`).
    pub fn mode(&self) -> &str {
        self.mode.as_deref().unwrap_or(Self::DEFAULT_MODE)
    }
    /// Owner of an `empty` volume's directory (default 0).
    pub fn uid(&self) -> u32 {
        self.uid.unwrap_or(0)
    }
    /// Group of an `empty` volume's directory (default 0).
    pub fn gid(&self) -> u32 {
        self.gid.unwrap_or(0)
    }
    /// Whether the volume is mounted read-only (default false).
    pub fn read_only(&self) -> bool {
        self.read_only.unwrap_or(false)
    }
    /// Whether a host volume is bind-mounted recursively (unset: yes, as the spec advises).
    pub fn recursive(&self) -> bool {
        self.recursive.unwrap_or(true)
    }

    /// Check the kind-specific rules at `path`.
    pub fn validate(&self, path: &str) -> Result<(), ManifestError> {
        match self.kind {
            VolumeKind::Host => {
                let src = self.source.as_deref().unwrap_or("");
                if !is_abs(src) {
                    return Err(ManifestError::invalid(
                        join(path, "source"),
                        src,
                        "a host volume needs an absolute source path",
                    ));
                }
                let extra = [
                    ("mode", self.mode.is_some()),
                    ("uid", self.uid.is_some()),
                    ("gid", self.gid.is_some()),
                ];
                if let Some((field, _)) = extra.iter().find(|(_, set)| *set) {
                    return Err(ManifestError::invalid(
                        join(path, field),
                        "set",
                        "only empty volumes take mode, uid and gid",
                    ));
                }
            }
            VolumeKind::Empty => {
                if let Some(src) = &self.source {
                    return Err(ManifestError::invalid(
                        join(path, "source"),
                        src,
                        "an empty volume has no source",
                    ));
                }
                if self.recursive.is_some() {
                    return Err(ManifestError::invalid(
                        join(path, "recursive"),
                        "set",
                        "only host volumes take recursive",
                    ));
                }
                if let Some(m) = &self.mode
                    && !is_mode(m)
                {
                    let rule = "must be octal digits up to 07777, e.g. \"0755\"";
                    return Err(ManifestError::invalid(join(path, "mode"), m, rule));
                }
            }
        }
        Ok(())
    }

    /// Parse rkt's `--volume` value: the name, then comma-separated `key=value` pairs from
    /// `kind`, `source`, `readOnly`, `recursive`, `mode`, `uid`, `gid`. Values are URL-query
    /// decoded (`%2C` is a comma, `+` a space) as rkt does. Unknown or repeated keys are errors.
    pub fn from_cli(s: &str) -> Result<Volume, ManifestError> {
        let cli = |rule: String| ManifestError::Cli {
            input: s.to_string(),
            rule,
        };
        let mut parts = s.split(',');
        let name = parts.next().unwrap_or_default();
        let name =
            AcName::new(query_decode(name).map_err(&cli)?).map_err(|e| cli(e.to_string()))?;
        let mut v = Volume {
            name,
            kind: VolumeKind::Empty,
            source: None,
            read_only: None,
            recursive: None,
            mode: None,
            uid: None,
            gid: None,
        };
        let mut kind = None;
        let mut seen: Vec<String> = Vec::new();
        for part in parts {
            let (key, val) = part
                .split_once('=')
                .ok_or_else(|| cli(format!("{part:?} is not key=value")))?;
            let (key, val) = (
                query_decode(key).map_err(&cli)?,
                query_decode(val).map_err(&cli)?,
            );
            if seen.contains(&key) {
                return Err(cli(format!("{key} is given twice")));
            }
            match key.as_str() {
                "kind" => kind = Some(parse_kind(&val).map_err(&cli)?),
                "source" => v.source = Some(val),
                "readOnly" => v.read_only = Some(parse_bool(&key, &val).map_err(&cli)?),
                "recursive" => v.recursive = Some(parse_bool(&key, &val).map_err(&cli)?),
                "mode" => v.mode = Some(val),
                "uid" | "gid" => {
                    let n = val
                        .parse()
                        .map_err(|_| cli(format!("{key} must be a number, not {val:?}")))?;
                    *(if key == "uid" { &mut v.uid } else { &mut v.gid }) = Some(n);
                }
                _ => {
                    return Err(cli(format!(
                        "unknown key {key:?}; use kind, source, readOnly, recursive, mode, uid or gid"
                    )));
                }
            }
            seen.push(key);
        }
        v.kind = kind.ok_or_else(|| cli("kind=host or kind=empty is required".to_string()))?;
        v.validate("--volume").map_err(|e| cli(e.to_string()))?;
        Ok(v)
    }
}

fn is_mode(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 5
        && m.bytes().all(|c| (b'0'..=b'7').contains(&c))
        && u32::from_str_radix(m, 8).is_ok_and(|n| n <= 0o7777)
}

fn parse_kind(s: &str) -> Result<VolumeKind, String> {
    match s {
        "host" => Ok(VolumeKind::Host),
        "empty" => Ok(VolumeKind::Empty),
        _ => Err(format!("kind must be host or empty, not {s:?}")),
    }
}

/// Booleans as Go's `strconv.ParseBool` spells them.
fn parse_bool(key: &str, s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{key} must be true or false, not {s:?}")),
    }
}

/// URL query decoding: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn query_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(byte.ok_or_else(|| format!("bad %-escape in {s:?}"))?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_host_volume() {
        let v =
            Volume::from_cli("data,kind=host,source=/srv/a%2Cb+c,readOnly=true,recursive=false")
                .unwrap();
        assert_eq!(v.name.as_str(), "data");
        assert_eq!(v.kind, VolumeKind::Host);
        assert_eq!(v.source.as_deref(), Some("/srv/a,b c"));
        assert_eq!((v.read_only, v.recursive), (Some(true), Some(false)));
        assert!(v.read_only() && !v.recursive());
    }

    #[test]
    fn cli_empty_volume() {
        let v = Volume::from_cli("scratch,kind=empty,mode=0700,uid=10,gid=20").unwrap();
        assert_eq!((v.mode(), v.uid(), v.gid()), ("0700", 10, 20));
        let d = Volume::from_cli("s,kind=empty").unwrap();
        assert_eq!(
            (d.mode(), d.uid(), d.gid(), d.read_only()),
            ("0755", 0, 0, false)
        );
    }

    #[test]
    fn cli_errors() {
        for bad in [
            "x,kind=host,source=/a,colour=red",
            "x,kind=host",
            "x,kind=host,source=rel",
            "x,kind=empty,source=/a",
            "x,kind=host,source=/a,mode=0700",
            "x,kind=empty,recursive=true",
            "x,kind=empty,mode=999",
            "x,kind=block",
            "x,source=/a",
            "X,kind=empty",
            "x,kind=empty,kind=host",
            "x,kind=empty,uid=-1",
            "x,kind=empty,readOnly=yes",
            "x,kind",
            "x,kind=empty,mode=%zz",
        ] {
            assert!(
                matches!(Volume::from_cli(bad), Err(ManifestError::Cli { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn manifest_volume_rules() {
        let mut v = Volume::from_cli("v,kind=host,source=/a").unwrap();
        v.uid = Some(1);
        let e = v.validate("volumes[3]").unwrap_err();
        assert_eq!(e.path(), "volumes[3].uid");
        assert!(
            is_mode("0")
                && is_mode("07777")
                && !is_mode("17777")
                && !is_mode("")
                && !is_mode("0o755")
        );
    }
}
