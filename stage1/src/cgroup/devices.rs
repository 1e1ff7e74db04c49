//! Device access on the unified (v2) hierarchy: v2 has no `devices` controller, so an app's
//! cgroup gets a `BPF_PROG_TYPE_CGROUP_DEVICE` program, hand-assembled here (as our seccomp
//! filters are) from the same rules as the v1 `devices.allow` list, and attached with
//! `bpf(BPF_PROG_ATTACH)`. The kernel runs it on every open and mknod of a device node by a
//! process of the cgroup (and on hybrid hosts in addition to the v1 controller): 1 allows,
//! 0 refuses with `EPERM`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::limits::AppLimits;
use super::{CgroupError, DEVICE_ALLOW, Result};

/// One allow rule: `kind` `b'c'`/`b'b'`/`b'a'`, `None` numbers are wildcards, `access` bits:
/// [`ACC_MKNOD`], [`ACC_READ`], [`ACC_WRITE`] (the kernel's `BPF_DEVCG_ACC_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub kind: u8,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

pub const ACC_MKNOD: u32 = 1;
pub const ACC_READ: u32 = 2;
pub const ACC_WRITE: u32 = 4;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

impl DeviceRule {
    /// Parses a v1 `devices.allow` line: `c 1:3 rwm`, `c *:* m`, `b 8:0 r`, `a`.
    pub fn parse(line: &str) -> Option<DeviceRule> {
        let mut parts = line.split_whitespace();
        let kind = match parts.next()? {
            "a" => return Some(DeviceRule::all()),
            "c" => b'c',
            "b" => b'b',
            _ => return None,
        };
        let (major, minor) = parts.next()?.split_once(':')?;
        let num = |s: &str| match s {
            "*" => Some(None),
            n => n.parse::<u32>().ok().map(Some),
        };
        let mut access = 0;
        for c in parts.next()?.chars() {
            access |= match c {
                'm' => ACC_MKNOD,
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                _ => return None,
            };
        }
        if parts.next().is_some() || access == 0 {
            return None;
        }
        Some(DeviceRule {
            kind,
            major: num(major)?,
            minor: num(minor)?,
            access,
        })
    }

    fn all() -> DeviceRule {
        DeviceRule {
            kind: b'a',
            major: None,
            minor: None,
            access: ACC_MKNOD | ACC_READ | ACC_WRITE,
        }
    }
}

/// One eBPF instruction (`struct bpf_insn`): opcode, dst (low nibble) and src registers,
/// jump offset, immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const LDX_MEM_W: u8 = 0x61;
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_X: u8 = 0xbf;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// The program: loads the device type (r2), access (r3), major (r4), minor (r5) from the
/// `bpf_cgroup_dev_ctx` in r1, then per rule a block of checks that jumps to the next rule on
/// any mismatch and returns 1 when all match; after the last rule, returns 0.
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut out = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU64_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules {
        let mut checks: Vec<Vec<Insn>> = Vec::new();
        match rule.kind {
            b'c' => checks.push(vec![insn(JMP_JNE_K, 2, 0, 0, DEV_CHAR)]),
            b'b' => checks.push(vec![insn(JMP_JNE_K, 2, 0, 0, DEV_BLOCK)]),
            _ => {}
        }
        // Unknown access bits count as not allowed.
        let denied = !rule.access & 0xffff;
        if denied != 0 {
            // Any requested access outside the rule's: r1 = access & !allowed, non-zero → next.
            checks.push(vec![
                insn(ALU64_MOV_X, 1, 3, 0, 0),
                insn(ALU64_AND_K, 1, 0, 0, denied as i32),
                insn(JMP_JNE_K, 1, 0, 0, 0),
            ]);
        }
        if let Some(major) = rule.major {
            checks.push(vec![insn(JMP_JNE_K, 4, 0, 0, major as i32)]);
        }
        if let Some(minor) = rule.minor {
            checks.push(vec![insn(JMP_JNE_K, 5, 0, 0, minor as i32)]);
        }
        let mut block: Vec<Insn> = checks.into_iter().flatten().collect();
        block.push(insn(ALU64_MOV_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        // Each jump skips to just past this block.
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JMP_JNE_K {
                ins.off = (len - i - 1) as i16;
            }
        }
        out.extend(block);
    }
    out.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    out.push(insn(EXIT, 0, 0, 0, 0));
    out
}

/// Runs `prog` the way the kernel would on a device access (for tests): `kind` `b'c'`/`b'b'`.
pub fn evaluate(prog: &[Insn], kind: u8, major: u32, minor: u32, access: u32) -> Option<u64> {
    let ty = if kind == b'b' { DEV_BLOCK } else { DEV_CHAR } as u64;
    let ctx = [
        (u64::from(access) << 16) | ty,
        u64::from(major),
        u64::from(minor),
    ];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..4096 {
        let i = prog.get(pc)?;
        let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_MEM_W => r[dst] = *ctx.get(usize::try_from(i.off / 4).ok()?)? & 0xffff_ffff,
            ALU64_AND_K => r[dst] &= i.imm as i64 as u64,
            ALU64_RSH_K => r[dst] = r[dst].checked_shr(i.imm as u32).unwrap_or(0),
            ALU64_MOV_X => r[dst] = r[src],
            ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
            JMP_JNE_K if r[dst] != i.imm as i64 as u64 => {
                pc = (pc as isize + isize::from(i.off)) as usize
            }
            JMP_JNE_K => {}
            EXIT => return Some(r[0]),
            _ => return None,
        }
    }
    None
}

/// Where the device program goes, and whether a v1 `devices` controller already guards the
/// apps (then a refused program is logged, not fatal).
#[derive(Debug, Clone)]
pub(super) struct DevicePlan {
    app_dirs: Vec<PathBuf>,
    v1_devices: bool,
}

/// The device program being loaded and attached on a thread of its own ([`start`]);
/// [`DeviceJob::wait`] before any app may start.
#[must_use = "the apps may only start once the device program is attached"]
pub enum DeviceJob {
    Done(Result<()>),
    Running(std::thread::JoinHandle<Result<()>>),
}

impl DeviceJob {
    /// Waits for the program to be attached to every app's cgroup.
    pub fn wait(self) -> Result<()> {
        match self {
            DeviceJob::Done(result) => result,
            DeviceJob::Running(handle) => handle.join().unwrap_or_else(|_| {
                Err(CgroupError::Devices {
                    path: PathBuf::new(),
                    source: io::Error::other("the device program's thread panicked"),
                })
            }),
        }
    }
}

/// The apps' v2 cgroups under `pod` for the device program; none for a directory
/// that is not on a cgroup2 file system (a test's fake tree).
pub(super) fn plan(
    pod: &Path,
    apps: &[(String, AppLimits)],
    v1_devices: bool,
) -> Option<DevicePlan> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    // `f_type`'s C type differs between architectures (i64 on x86_64).
    #[allow(clippy::unnecessary_cast)]
    match rustix::fs::statfs(pod) {
        Ok(st) if st.f_type as i64 == CGROUP2_SUPER_MAGIC => {}
        _ => return None,
    }
    Some(DevicePlan {
        app_dirs: apps.iter().map(|(app, _)| pod.join(app)).collect(),
        v1_devices,
    })
}

/// Attaches the device program to each app cgroup of `plan`. Where the kernel refuses it and
/// a v1 `devices` hierarchy already guards the apps (hybrid hosts), that is logged rather than
/// fatal.
fn restrict_devices_v2(plan: &DevicePlan) -> Result<()> {
    let rules: Vec<DeviceRule> = DEVICE_ALLOW
        .iter()
        .filter_map(|l| DeviceRule::parse(l))
        .collect();
    let prog = program(&rules);
    for dir in &plan.app_dirs {
        match attach(dir, &prog) {
            Ok(()) => {}
            Err(e) if plan.v1_devices => {
                crate::debug!(
                    "cgroup {}: no device program ({e}); v1 devices applies",
                    dir.display()
                );
            }
            Err(source) => {
                return Err(CgroupError::Devices {
                    path: dir.clone(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Starts attaching the device program to the apps' v2 cgroups of `plan` on a thread: the
/// kernel's verifier takes most of a millisecond, which the caller overlaps with the pod's
/// PID 1 setting up its mounts. Call it after the clone (a thread alive across `clone3` could
/// leave the child a locked allocator) and [`DeviceJob::wait`] before letting any app start:
/// until then no process is in an app's cgroup.
pub(super) fn start(plan: Option<DevicePlan>) -> DeviceJob {
    let Some(plan) = plan else {
        return DeviceJob::Done(Ok(()));
    };
    let job = plan.clone();
    match std::thread::Builder::new()
        .name("devices".into())
        .spawn(move || restrict_devices_v2(&job))
    {
        Ok(handle) => DeviceJob::Running(handle),
        // No thread to be had: attach right here.
        Err(_) => DeviceJob::Done(restrict_devices_v2(&plan)),
    }
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Lets ancestors' and descendants' programs run too (all must allow), as systemd's do.
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<i64> {
    // SAFETY: `attr` is a properly laid out `union bpf_attr` prefix of the given size that
    // lives across the call; the kernel reads it (and writes only into buffers it names).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// `BPF_PROG_LOAD` of `prog` as a cgroup device program, with the verifier's log in `log`.
fn load(prog: &[Insn], log: Option<&mut Vec<u8>>) -> io::Result<OwnedFd> {
    let mut name = [0u8; 16];
    name[..9].copy_from_slice(b"rkt_devcg");
    let (log_level, log_size, log_buf) = match log {
        Some(buf) => (1, buf.len() as u32, buf.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: c"GPL".as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        prog_name: name,
        ..ProgLoadAttr::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &mut attr)?;
    // SAFETY: a successful BPF_PROG_LOAD returns a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Loads `prog` and attaches it to the cgroup directory `cgroup` (the program stays attached
/// after its fd is closed, until the cgroup goes).
pub fn attach(cgroup: &Path, prog: &[Insn]) -> io::Result<()> {
    // Without a log first (a verbose log of an accepted program can overflow any buffer and
    // fail the load with ENOSPC); on failure again with one, for the message.
    let fd = match load(prog, None) {
        Ok(fd) => fd,
        Err(e) => {
            let mut log = vec![0u8; 1 << 16];
            let detail = match load(prog, Some(&mut log)) {
                Ok(_) => String::new(),
                Err(_) => {
                    let text = String::from_utf8_lossy(&log);
                    let text = text.trim_end_matches('\0').trim();
                    let tail: String = text.chars().rev().take(400).collect();
                    tail.chars().rev().collect()
                }
            };
            return Err(io::Error::new(
                e.kind(),
                format!("{e}: loading the device program: {detail}"),
            ));
        }
    };
    let prog_fd = fd;
    let dir = std::fs::File::open(cgroup)?;
    let mut at = ProgAttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut at)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<DeviceRule> {
        super::super::DEVICE_ALLOW
            .iter()
            .map(|l| DeviceRule::parse(l).unwrap())
            .collect()
    }

    #[test]
    fn parses_v1_lines() {
        assert_eq!(
            DeviceRule::parse("c 1:3 rwm"),
            Some(DeviceRule {
                kind: b'c',
                major: Some(1),
                minor: Some(3),
                access: 7
            })
        );
        let any = DeviceRule::parse("c 136:* rw").unwrap();
        assert_eq!((any.minor, any.access), (None, ACC_READ | ACC_WRITE));
        for bad in [
            "x 1:3 r",
            "c 1:3",
            "c 1-3 r",
            "c 1:3 q",
            "c a:3 r",
            "c 1:3 r x",
        ] {
            assert_eq!(DeviceRule::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn default_program_allows_the_standard_nodes_only() {
        let prog = program(&rules());
        let rw = ACC_READ | ACC_WRITE;
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 2),
            (136, 4),
        ] {
            assert_eq!(
                evaluate(&prog, b'c', major, minor, rw),
                Some(1),
                "{major}:{minor}"
            );
        }
        // mknod of character devices is allowed; opening them is not.
        assert_eq!(evaluate(&prog, b'c', 4, 1, ACC_MKNOD), Some(1));
        for (kind, major, minor, acc) in [
            (b'c', 4, 1, ACC_READ),
            (b'c', 1, 1, rw),  // /dev/mem
            (b'c', 10, 1, rw), // /dev/psaux
            (b'b', 8, 0, ACC_READ),
            (b'b', 8, 0, ACC_MKNOD),
            (b'b', 1, 3, rw), // a block device with null's numbers
            (b'c', 1, 3, ACC_READ | ACC_MKNOD | 8),
        ] {
            assert_eq!(
                evaluate(&prog, kind, major, minor, acc),
                Some(0),
                "{major}:{minor}"
            );
        }
    }

    #[test]
    fn empty_rules_deny_all_and_a_allows_all() {
        assert_eq!(evaluate(&program(&[]), b'c', 1, 3, ACC_READ), Some(0));
        let all = program(&[DeviceRule::parse("a").unwrap()]);
        assert_eq!(evaluate(&all, b'b', 8, 0, ACC_MKNOD), Some(1));
    }

    #[test]
    fn jumps_stay_inside_the_program() {
        let prog = program(&rules());
        for (pc, i) in prog.iter().enumerate() {
            if i.code == JMP_JNE_K {
                let to = pc as isize + 1 + isize::from(i.off);
                assert!(to > pc as isize && (to as usize) < prog.len());
            }
        }
        assert_eq!(prog.last().map(|i| i.code), Some(EXIT));
    }

    /// The program attached for real to a fresh cgroup on the host's cgroup2 hierarchy: a
    /// shell moved into it can read /dev/null but not a `c 1:1` node (/dev/mem) it did not
    /// get through the rules. Needs root and a cgroup2 mount (this VM has both).
    #[test]
    fn attached_program_refuses_other_devices_for_real() {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let v2 = mounts
            .lines()
            .find(|l| l.contains(" - cgroup2 "))
            .and_then(|l| l.split(' ').nth(4))
            .expect("a cgroup2 mount (this test needs one)");
        let cg = Path::new(v2).join(format!("rkt-rs-devtest-{}", std::process::id()));
        std::fs::create_dir(&cg).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let node = tmp.path().join("mem");
        let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string and plain integers.
        let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 1)) };
        assert_eq!(rc, 0, "mknod: {}", io::Error::last_os_error());
        let result = attach(&cg, &program(&rules()));
        let run = |file: &Path| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "echo $$ > {}/cgroup.procs && head -c 1 {} > /dev/null",
                    cg.display(),
                    file.display()
                ))
                .output()
                .unwrap()
        };
        let (null, mem) = (run(Path::new("/dev/null")), run(&node));
        let _ = std::fs::remove_dir(&cg);
        result.unwrap();
        assert!(null.status.success(), "{null:?}");
        assert!(!mem.status.success(), "{mem:?}");
        let err = String::from_utf8_lossy(&mem.stderr);
        assert!(err.contains("Operation not permitted"), "{err}");
    }
}
