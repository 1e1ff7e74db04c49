//! The seccomp isolators and the errno names they may return instead of killing the app.

use serde_json::Value;

use super::{IsolatorError, as_object, bad_field, field, string_list};

/// Errno names with their numbers on Linux's generic ABI (asm-generic/errno*.h: x86_64, aarch64,
/// arm, riscv, s390x, ppc64 except EDEADLOCK). It covers every POSIX.1-2001 and C99 name the spec
/// requires plus the Linux-specific ones it recommends, and the aliases glibc defines
/// (EWOULDBLOCK, EDEADLOCK, ENOTSUP).
pub const ERRNOS: [(&str, i32); 134] = [
    ("EPERM", 1),
    ("ENOENT", 2),
    ("ESRCH", 3),
    ("EINTR", 4),
    ("EIO", 5),
    ("ENXIO", 6),
    ("E2BIG", 7),
    ("ENOEXEC", 8),
    ("EBADF", 9),
    ("ECHILD", 10),
    ("EAGAIN", 11),
    ("EWOULDBLOCK", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("ENOTBLK", 15),
    ("EBUSY", 16),
    ("EEXIST", 17),
    ("EXDEV", 18),
    ("ENODEV", 19),
    ("ENOTDIR", 20),
    ("EISDIR", 21),
    ("EINVAL", 22),
    ("ENFILE", 23),
    ("EMFILE", 24),
    ("ENOTTY", 25),
    ("ETXTBSY", 26),
    ("EFBIG", 27),
    ("ENOSPC", 28),
    ("ESPIPE", 29),
    ("EROFS", 30),
    ("EMLINK", 31),
    ("EPIPE", 32),
    ("EDOM", 33),
    ("ERANGE", 34),
    ("EDEADLK", 35),
    ("EDEADLOCK", 35),
    ("ENAMETOOLONG", 36),
    ("ENOLCK", 37),
    ("ENOSYS", 38),
    ("ENOTEMPTY", 39),
    ("ELOOP", 40),
    ("ENOMSG", 42),
    ("EIDRM", 43),
    ("ECHRNG", 44),
    ("EL2NSYNC", 45),
    ("EL3HLT", 46),
    ("EL3RST", 47),
    ("ELNRNG", 48),
    ("EUNATCH", 49),
    ("ENOCSI", 50),
    ("EL2HLT", 51),
    ("EBADE", 52),
    ("EBADR", 53),
    ("EXFULL", 54),
    ("ENOANO", 55),
    ("EBADRQC", 56),
    ("EBADSLT", 57),
    ("EBFONT", 59),
    ("ENOSTR", 60),
    ("ENODATA", 61),
    ("ETIME", 62),
    ("ENOSR", 63),
    ("ENONET", 64),
    ("ENOPKG", 65),
    ("EREMOTE", 66),
    ("ENOLINK", 67),
    ("EADV", 68),
    ("ESRMNT", 69),
    ("ECOMM", 70),
    ("EPROTO", 71),
    ("EMULTIHOP", 72),
    ("EDOTDOT", 73),
    ("EBADMSG", 74),
    ("EOVERFLOW", 75),
    ("ENOTUNIQ", 76),
    ("EBADFD", 77),
    ("EREMCHG", 78),
    ("ELIBACC", 79),
    ("ELIBBAD", 80),
    ("ELIBSCN", 81),
    ("ELIBMAX", 82),
    ("ELIBEXEC", 83),
    ("EILSEQ", 84),
    ("ERESTART", 85),
    ("ESTRPIPE", 86),
    ("EUSERS", 87),
    ("ENOTSOCK", 88),
    ("EDESTADDRREQ", 89),
    ("EMSGSIZE", 90),
    ("EPROTOTYPE", 91),
    ("ENOPROTOOPT", 92),
    ("EPROTONOSUPPORT", 93),
    ("ESOCKTNOSUPPORT", 94),
    ("EOPNOTSUPP", 95),
    ("ENOTSUP", 95),
    ("EPFNOSUPPORT", 96),
    ("EAFNOSUPPORT", 97),
    ("EADDRINUSE", 98),
    ("EADDRNOTAVAIL", 99),
    ("ENETDOWN", 100),
    ("ENETUNREACH", 101),
    ("ENETRESET", 102),
    ("ECONNABORTED", 103),
    ("ECONNRESET", 104),
    ("ENOBUFS", 105),
    ("EISCONN", 106),
    ("ENOTCONN", 107),
    ("ESHUTDOWN", 108),
    ("ETOOMANYREFS", 109),
    ("ETIMEDOUT", 110),
    ("ECONNREFUSED", 111),
    ("EHOSTDOWN", 112),
    ("EHOSTUNREACH", 113),
    ("EALREADY", 114),
    ("EINPROGRESS", 115),
    ("ESTALE", 116),
    ("EUCLEAN", 117),
    ("ENOTNAM", 118),
    ("ENAVAIL", 119),
    ("EISNAM", 120),
    ("EREMOTEIO", 121),
    ("EDQUOT", 122),
    ("ENOMEDIUM", 123),
    ("EMEDIUMTYPE", 124),
    ("ECANCELED", 125),
    ("ENOKEY", 126),
    ("EKEYEXPIRED", 127),
    ("EKEYREVOKED", 128),
    ("EKEYREJECTED", 129),
    ("EOWNERDEAD", 130),
    ("ENOTRECOVERABLE", 131),
    ("ERFKILL", 132),
    ("EHWPOISON", 133),
];

/// The Linux number of an errno name (exact, upper-case): `errno_number("EPERM") == Some(1)`.
pub fn errno_number(name: &str) -> Option<i32> {
    ERRNOS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Whether a seccomp set lists the calls to allow (retain) or to block (remove).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeccompMode {
    Retain,
    Remove,
}

impl SeccompMode {
    /// The one `@appc.io/` wildcard that means something in this mode.
    pub fn appc_wildcard(self) -> &'static str {
        match self {
            SeccompMode::Retain => "@appc.io/all",
            SeccompMode::Remove => "@appc.io/empty",
        }
    }
}

/// The value of a seccomp isolator: a non-empty list of syscall names and `@scope/name`
/// wildcards (case-sensitive, kept as given), and the errno blocked calls return (`None`: kill
/// the app with SIGSYS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompSet {
    set: Vec<String>,
    errno: Option<String>,
}

impl SeccompSet {
    /// Checks a set for the isolator `isolator` (used in messages). An empty `errno` is absent.
    pub fn new(
        isolator: &str,
        mode: SeccompMode,
        set: Vec<String>,
        errno: Option<String>,
    ) -> Result<SeccompSet, IsolatorError> {
        if set.is_empty() {
            return Err(bad_field(
                isolator,
                "set",
                &Value::Array(vec![]),
                "must not be empty",
            ));
        }
        for entry in &set {
            check_entry(isolator, mode, entry)?;
        }
        let errno = errno.filter(|e| !e.is_empty());
        if let Some(e) = &errno {
            let b = e.as_bytes();
            let well_formed = b.len() >= 2
                && b[0] == b'E'
                && b[1..]
                    .iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if !well_formed {
                return Err(bad_field(
                    isolator,
                    "errno",
                    &Value::String(e.clone()),
                    "must be an upper-case errno name such as EPERM (E then A-Z or 0-9)",
                ));
            }
        }
        Ok(SeccompSet { set, errno })
    }

    pub fn set(&self) -> &[String] {
        &self.set
    }

    /// The errno name; look its number up with [`errno_number`] (unknown names are well-formed
    /// but unsupported here, which the spec lets the runtime report or ignore).
    pub fn errno(&self) -> Option<&str> {
        self.errno.as_deref()
    }

    pub(super) fn to_json(&self) -> Value {
        match &self.errno {
            Some(e) => serde_json::json!({ "set": self.set, "errno": e }),
            None => serde_json::json!({ "set": self.set }),
        }
    }
}

/// One `set` entry: a syscall name (`[A-Za-z0-9_]+`, existence left to the runtime's table) or
/// a wildcard `@scope/name`, where `@appc.io/` allows only the wildcard of this mode.
fn check_entry(isolator: &str, mode: SeccompMode, entry: &str) -> Result<(), IsolatorError> {
    let bad = |rule: String| {
        Err(bad_field(
            isolator,
            "set",
            &Value::String(entry.to_string()),
            rule,
        ))
    };
    if let Some(wildcard) = entry.strip_prefix('@') {
        let Some((scope, name)) = wildcard.split_once('/') else {
            return bad("a wildcard must be scoped as @scope/name".into());
        };
        let printable = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic());
        if !printable(scope) || !printable(name) {
            return bad("a wildcard must be @scope/name with printable, non-empty parts".into());
        }
        if scope == "appc.io" && entry != mode.appc_wildcard() {
            return bad(format!(
                "the @appc.io/ scope is reserved; this isolator only allows {}",
                mode.appc_wildcard()
            ));
        }
        return Ok(());
    }
    if entry.is_empty()
        || !entry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return bad(
            "must be a syscall name (letters, digits, _) or an @scope/name wildcard".into(),
        );
    }
    Ok(())
}

pub(super) fn parse_set(
    name: &str,
    mode: SeccompMode,
    value: &Value,
) -> Result<SeccompSet, IsolatorError> {
    let obj = as_object(
        name,
        value,
        "an object {\"set\": [syscalls], \"errno\": \"E…\"}",
    )?;
    let set = string_list(name, obj, "set")?
        .into_iter()
        .map(str::to_string)
        .collect();
    let errno = match field(obj, "errno") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(bad_field(name, "errno", other, "must be a string")),
    };
    SeccompSet::new(name, mode, set, errno)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errno_table() {
        assert_eq!(errno_number("EPERM"), Some(1));
        assert_eq!(errno_number("ENOTSUP"), Some(95));
        assert_eq!(errno_number("EOPNOTSUPP"), Some(95));
        assert_eq!(errno_number("EAGAIN"), errno_number("EWOULDBLOCK"));
        assert_eq!(errno_number("ENOSYS"), Some(38));
        assert_eq!(errno_number("EHWPOISON"), Some(133));
        assert_eq!(errno_number("eperm"), None);
        // The POSIX.1-2001 / C99 names the spec requires.
        for name in [
            "E2BIG",
            "EACCES",
            "EADDRINUSE",
            "EADDRNOTAVAIL",
            "EAFNOSUPPORT",
            "EAGAIN",
            "EALREADY",
            "EBADF",
            "EBADMSG",
            "EBUSY",
            "ECANCELED",
            "ECHILD",
            "ECONNABORTED",
            "ECONNREFUSED",
            "ECONNRESET",
            "EDEADLK",
            "EDESTADDRREQ",
            "EDOM",
            "EDQUOT",
            "EEXIST",
            "EFAULT",
            "EFBIG",
            "EHOSTUNREACH",
            "EIDRM",
            "EILSEQ",
            "EINPROGRESS",
            "EINTR",
            "EINVAL",
            "EIO",
            "EISCONN",
            "EISDIR",
            "ELOOP",
            "EMFILE",
            "EMLINK",
            "EMSGSIZE",
            "EMULTIHOP",
            "ENAMETOOLONG",
            "ENETDOWN",
            "ENETRESET",
            "ENETUNREACH",
            "ENFILE",
            "ENOBUFS",
            "ENODATA",
            "ENODEV",
            "ENOENT",
            "ENOEXEC",
            "ENOLCK",
            "ENOLINK",
            "ENOMEM",
            "ENOMSG",
            "ENOPROTOOPT",
            "ENOSPC",
            "ENOSR",
            "ENOSTR",
            "ENOSYS",
            "ENOTCONN",
            "ENOTDIR",
            "ENOTEMPTY",
            "ENOTSOCK",
            "ENOTSUP",
            "ENOTTY",
            "ENXIO",
            "EOPNOTSUPP",
            "EOVERFLOW",
            "EPERM",
            "EPIPE",
            "EPROTO",
            "EPROTONOSUPPORT",
            "EPROTOTYPE",
            "ERANGE",
            "EROFS",
            "ESPIPE",
            "ESRCH",
            "ESTALE",
            "ETIME",
            "ETIMEDOUT",
            "ETXTBSY",
            "EWOULDBLOCK",
            "EXDEV",
        ] {
            assert!(errno_number(name).is_some(), "{name}");
        }
    }

    #[test]
    fn spec_examples() {
        let remove =
            json!({"errno": "ENOTSUP", "set": ["clock_adjtime", "clock_settime", "reboot"]});
        let s = parse_set("r", SeccompMode::Remove, &remove).unwrap();
        assert_eq!(s.errno(), Some("ENOTSUP"));
        assert_eq!(s.set().len(), 3);
        let retain =
            json!({"errno": "", "set": ["accept", "bind", "listen", "read", "socket", "write"]});
        let s = parse_set("r", SeccompMode::Retain, &retain).unwrap();
        assert_eq!(s.errno(), None);
        assert_eq!(
            s.to_json(),
            json!({"set": ["accept", "bind", "listen", "read", "socket", "write"]})
        );
    }

    #[test]
    fn wildcards() {
        let ok = |mode, entry: &str| parse_set("r", mode, &json!({"set": [entry]})).is_ok();
        assert!(ok(SeccompMode::Retain, "@appc.io/all"));
        assert!(!ok(SeccompMode::Retain, "@appc.io/empty"));
        assert!(ok(SeccompMode::Remove, "@appc.io/empty"));
        assert!(!ok(SeccompMode::Remove, "@appc.io/all"));
        assert!(!ok(SeccompMode::Remove, "@appc.io/other"));
        assert!(ok(SeccompMode::Remove, "@rkt/default-blacklist"));
        assert!(ok(SeccompMode::Retain, "@systemd/default-whitelist"));
        for bad in [
            "@",
            "@rkt",
            "@/x",
            "@rkt/",
            "@r kt/x",
            "",
            "read write",
            "../x",
            "read\n",
        ] {
            assert!(!ok(SeccompMode::Retain, bad), "{bad:?}");
        }
    }

    #[test]
    fn bad_values() {
        let m = SeccompMode::Remove;
        for bad in [
            json!({"set": []}),
            json!({}),
            json!({"set": ["read"], "errno": "eperm"}),
            json!({"set": ["read"], "errno": "E"}),
            json!({"set": ["read"], "errno": "PERM"}),
            json!({"set": ["read"], "errno": "E-1"}),
            json!({"set": ["read"], "errno": 1}),
            json!("read"),
        ] {
            assert!(parse_set("r", m, &bad).is_err(), "{bad}");
        }
        // Well-formed but not in the table: accepted, the runtime decides.
        assert!(parse_set("r", m, &json!({"set": ["read"], "errno": "EFOO9"})).is_ok());
    }
}
