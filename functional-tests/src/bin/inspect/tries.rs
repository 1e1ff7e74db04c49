//! Probe flags that try something and print the outcome (`ok` or the errno number), so a
//! test can assert a refusal without the probe failing:
//! - `--try-open=P`: `OPEN P=ok len=N` (bytes read, up to 4096; entries for a directory)
//! - `--try-open-write=P`: `OPENW P=ok|<errno>` (opens for writing, writes nothing)
//! - `--try-mkdir=P`: `MKDIR P=ok|<errno>` (removed again when made)
//! - `--list-dir=P`: `LS P=a,b,c` (sorted names)
//! - `--try-mknod=P:b|c:MAJ:MIN`: `MKNOD P=ok|<errno>` then, if made, `MKNOD_OPEN P=...`
//! - `--try-peek=PID`: `PEEK PID=environ:<r> mem:<r>` (reading another process's memory);
//!   `--try-peek=all`: one `PEEK <pid>:<comm>=...` line per other visible process

use std::ffi::CString;
use std::io::{self, Read};

#[derive(Debug)]
pub enum Try {
    Open(String),
    OpenWrite(String),
    Mkdir(String),
    List(String),
    Mknod(String, u8, u32, u32),
    Peek(String),
}

fn outcome<T>(r: io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(e) => e.raw_os_error().unwrap_or(-1).to_string(),
    }
}

impl Try {
    pub fn is_flag(f: &str) -> bool {
        matches!(
            f,
            "--try-open"
                | "--try-open-write"
                | "--try-mkdir"
                | "--list-dir"
                | "--try-mknod"
                | "--try-peek"
        )
    }

    pub fn parse(flag: &str, v: String) -> Result<Try, String> {
        Ok(match flag {
            "--try-open" => Try::Open(v),
            "--try-open-write" => Try::OpenWrite(v),
            "--try-mkdir" => Try::Mkdir(v),
            "--list-dir" => Try::List(v),
            "--try-peek" => Try::Peek(v),
            _ => {
                let bad = || format!("{flag}={v}: use PATH:b|c:MAJOR:MINOR");
                let parts: Vec<&str> = v.rsplitn(4, ':').collect();
                let [minor, major, kind, path] = parts[..] else {
                    return Err(bad());
                };
                let kind = match kind {
                    "b" => b'b',
                    "c" => b'c',
                    _ => return Err(bad()),
                };
                let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
                Try::Mknod(path.to_string(), kind, num(major)?, num(minor)?)
            }
        })
    }

    pub fn run(&self) {
        match self {
            Try::Open(p) => println!("OPEN {p}={}", open_and_read(p)),
            Try::OpenWrite(p) => {
                let r = std::fs::OpenOptions::new().write(true).open(p);
                println!("OPENW {p}={}", outcome(r));
            }
            Try::Mkdir(p) => {
                let r = std::fs::create_dir(p);
                if r.is_ok() {
                    let _ = std::fs::remove_dir(p);
                }
                println!("MKDIR {p}={}", outcome(r));
            }
            Try::List(p) => {
                let mut names: Vec<String> = match std::fs::read_dir(p) {
                    Ok(d) => d
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect(),
                    Err(e) => vec![format!("error:{}", e.raw_os_error().unwrap_or(-1))],
                };
                names.sort();
                println!("LS {p}={}", names.join(","));
            }
            Try::Mknod(p, kind, major, minor) => mknod(p, *kind, *major, *minor),
            Try::Peek(pid) if pid == "all" => {
                let me = std::process::id().to_string();
                let mut pids: Vec<u32> = std::fs::read_dir("/proc")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .filter(|p: &u32| p.to_string() != me)
                    .collect();
                pids.sort_unstable();
                for pid in pids {
                    let comm =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    println!("PEEK {pid}:{}={}", comm.trim(), peek(&pid.to_string()));
                }
            }
            Try::Peek(pid) => println!("PEEK {pid}={}", peek(pid)),
        }
    }
}

fn peek(pid: &str) -> String {
    let environ = outcome(std::fs::read(format!("/proc/{pid}/environ")));
    let mem = outcome(std::fs::File::open(format!("/proc/{pid}/mem")));
    format!("environ:{environ} mem:{mem}")
}

fn open_and_read(p: &str) -> String {
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) => return outcome::<()>(Err(e)),
    };
    if meta.is_dir() {
        return match std::fs::read_dir(p) {
            Ok(d) => format!("ok len={}", d.count()),
            Err(e) => outcome::<()>(Err(e)),
        };
    }
    let mut f = match std::fs::File::open(p) {
        Ok(f) => f,
        Err(e) => return outcome::<()>(Err(e)),
    };
    let mut buf = vec![0u8; 4096];
    match f.read(&mut buf) {
        Ok(n) => format!("ok len={n}"),
        Err(e) => outcome::<()>(Err(e)),
    }
}

fn mknod(p: &str, kind: u8, major: u32, minor: u32) {
    let Ok(path) = CString::new(p) else {
        println!("MKNOD {p}=nul");
        return;
    };
    let ty = if kind == b'b' {
        libc::S_IFBLK
    } else {
        libc::S_IFCHR
    };
    // SAFETY: a valid C string and plain integers.
    let rc = unsafe { libc::mknod(path.as_ptr(), ty | 0o600, libc::makedev(major, minor)) };
    let r = if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    let made = r.is_ok();
    println!("MKNOD {p}={}", outcome(r));
    if made {
        let r = std::fs::OpenOptions::new().read(true).open(p);
        println!("MKNOD_OPEN {p}={}", outcome(r));
        let _ = std::fs::remove_file(p);
    }
}
