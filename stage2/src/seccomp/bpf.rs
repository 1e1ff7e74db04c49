//! Classic BPF for seccomp: the instruction layout the kernel reads, the few opcodes a
//! syscall-number filter needs, and the `seccomp(2)` installer.

use std::io;

/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const MAX_INSTRUCTIONS: usize = 4096;

// Opcodes (linux/bpf_common.h): class | size | mode, or class | op | source.
/// BPF_LD | BPF_W | BPF_ABS (the first two are 0).
const LD_W_ABS: u16 = 0x20;
/// BPF_JMP | BPF_JA: an unconditional jump by `k` (the conditional ones reach 255 at most).
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x05 | 0x10;
const JMP_JGE_K: u16 = 0x05 | 0x30;
const JMP_JSET_K: u16 = 0x05 | 0x40;
const RET_K: u16 = 0x06;

// Offsets in struct seccomp_data: nr, arch, then six 64-bit args (low half first on x86_64).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// Calls made through the x32 ABI carry this bit; none of them may bypass the filter.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// CLONE_NEWNS | CLONE_NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
const CLONE_NAMESPACE_FLAGS: u32 = 0x7e02_0000;
const AF_VSOCK: u32 = 40;
/// The personalities Docker lets through: PER_LINUX, PER_LINUX32, UNAME26, both, and the query.
const PERSONALITIES: [u32; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// One instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

/// What the filter answers for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// Fail the call with this errno (1..=4095).
    Errno(u16),
    /// SIGSYS for the whole process.
    KillProcess,
}

impl Action {
    pub fn ret_value(self) -> u32 {
        match self {
            Action::Allow => 0x7fff_0000,
            Action::Errno(e) => 0x0005_0000 | u32::from(e & 0x0fff),
            Action::KillProcess => 0x8000_0000,
        }
    }
}

fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

fn ret(action: Action) -> SockFilter {
    stmt(RET_K, action.ret_value())
}

/// Docker's argument-checked calls, as blocks that each start by comparing the number in the
/// accumulator and either return or fall through with the number still loaded.
pub fn docker_checks(block: Action) -> Vec<Vec<SockFilter>> {
    let nr = |n: i64| n as u32;
    let clone = vec![
        jump(JMP_JEQ_K, nr(libc::SYS_clone), 0, 4),
        stmt(LD_W_ABS, ARG0_LOW),
        jump(JMP_JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1),
        ret(block),
        ret(Action::Allow),
    ];
    let socket = vec![
        jump(JMP_JEQ_K, nr(libc::SYS_socket), 0, 4),
        stmt(LD_W_ABS, ARG0_LOW),
        jump(JMP_JEQ_K, AF_VSOCK, 0, 1),
        ret(block),
        ret(Action::Allow),
    ];
    let n = PERSONALITIES.len() as u8;
    let mut personality = vec![
        jump(JMP_JEQ_K, nr(libc::SYS_personality), 0, n + 3),
        stmt(LD_W_ABS, ARG0_LOW),
    ];
    for (i, value) in PERSONALITIES.iter().enumerate() {
        // Jump over the remaining comparisons and the block return, to the allow.
        personality.push(jump(JMP_JEQ_K, *value, n - i as u8, 0));
    }
    personality.extend([ret(block), ret(Action::Allow)]);
    let clone3 = vec![
        jump(JMP_JEQ_K, nr(libc::SYS_clone3), 0, 1),
        ret(Action::Errno(libc::ENOSYS as u16)),
    ];
    vec![clone, socket, personality, clone3]
}

/// The whole program: foreign architectures are killed, x32 calls get `mismatch` if it blocks
/// (else `on_match`), then the checked blocks, then `numbers` answer `on_match` and everything
/// else `mismatch`.
pub fn program(
    checked: &[Vec<SockFilter>],
    numbers: &[i64],
    on_match: Action,
    mismatch: Action,
) -> Vec<SockFilter> {
    let x32 = if mismatch == Action::Allow {
        on_match
    } else {
        mismatch
    };
    let mut p = vec![
        stmt(LD_W_ABS, ARCH),
        jump(JMP_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        ret(Action::KillProcess),
        stmt(LD_W_ABS, NR),
        jump(JMP_JGE_K, X32_SYSCALL_BIT, 0, 1),
        ret(x32),
    ];
    for block in checked {
        p.extend_from_slice(block);
    }
    p.extend(number_tree(numbers, on_match, mismatch));
    p
}

/// `numbers` answer `on_match`, every other number `mismatch`: a balanced tree of `JGE`
/// comparisons over the points where the answer changes (the ends of each run of consecutive
/// numbers), with a return at each leaf. Docker's allowlist is ~35 runs, so a call costs about
/// six comparisons instead of a scan of up to 350, and the whole default filter is 164
/// instructions instead of ~740 for the kernel to check and compile when the app starts.
fn number_tree(numbers: &[i64], on_match: Action, mismatch: Action) -> Vec<SockFilter> {
    let mut sorted: Vec<u32> = numbers.iter().map(|n| *n as u32).collect();
    sorted.sort_unstable();
    sorted.dedup();
    // bounds[i] starts interval i + 1; interval 0 (below every number) answers `mismatch`,
    // and each bound flips the answer.
    let mut bounds: Vec<u32> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        bounds.push(start);
        if let Some(end) = sorted[i].checked_add(1) {
            bounds.push(end);
        }
        i += 1;
    }
    let answer = |interval: usize| {
        if interval % 2 == 1 {
            on_match
        } else {
            mismatch
        }
    };
    subtree(&bounds, 0, bounds.len(), &answer)
}

/// The code for intervals `first..=last` (interval `i` starts at `bounds[i - 1]`).
fn subtree(
    bounds: &[u32],
    first: usize,
    last: usize,
    answer: &dyn Fn(usize) -> Action,
) -> Vec<SockFilter> {
    if first == last {
        return vec![ret(answer(first))];
    }
    let mid = (first + last).div_ceil(2);
    let below = subtree(bounds, first, mid - 1, answer);
    let above = subtree(bounds, mid, last, answer);
    let mut code = Vec::with_capacity(2 + below.len() + above.len());
    match u8::try_from(below.len()) {
        // nr >= bound: jump over the lower half.
        Ok(skip) => code.push(jump(JMP_JGE_K, bounds[mid - 1], skip, 0)),
        Err(_) => {
            code.push(jump(JMP_JGE_K, bounds[mid - 1], 0, 1));
            code.push(stmt(JMP_JA, below.len() as u32));
        }
    }
    code.extend(below);
    code.extend(above);
    code
}

/// Runs `program` on a call the way the kernel would (for tests): the number, the
/// architecture and the first argument's low half; `None` for a malformed program.
#[cfg(test)]
pub fn evaluate(program: &[SockFilter], nr: u32, arch: u32, arg0: u32) -> Option<u32> {
    let mut acc = 0u32;
    let mut pc = 0usize;
    while let Some(i) = program.get(pc) {
        pc += 1;
        let skip = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
        match i.code {
            LD_W_ABS => {
                acc = match i.k {
                    NR => nr,
                    ARCH => arch,
                    ARG0_LOW => arg0,
                    _ => return None,
                }
            }
            JMP_JA => pc += i.k as usize,
            JMP_JEQ_K => pc += skip(acc == i.k),
            JMP_JGE_K => pc += skip(acc >= i.k),
            JMP_JSET_K => pc += skip(acc & i.k != 0),
            RET_K => return Some(i.k),
            _ => return None,
        }
    }
    None
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, prog)` for the calling thread. The kernel requires
/// no_new_privs or CAP_SYS_ADMIN in the caller's user namespace.
pub fn install(program: &[SockFilter]) -> io::Result<()> {
    let len = u16::try_from(program.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "filter too long"))?;
    let prog = SockFprog {
        len,
        filter: program.as_ptr(),
    };
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    // SAFETY: `prog` points at `len` valid instructions that outlive the call; the kernel copies
    // them and keeps no pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
