//! The pod's PID 1 lives as long as the pod, so what its start-up left resident counts once
//! per pod. Nearly all of it is the binary's code: the kernel maps page-cache pages around
//! every page touched (fault-around), so the set-up code (parsing, mounts, cgroups) keeps most
//! of the text resident though the supervisor loop needs a few pages of it. Once every app has
//! started, PID 1 drops its executable mappings from its page tables (they are never written,
//! so a later fault reloads the same bytes from the file, which the mapping keeps open even
//! after the pivot) and returns freed heap to the kernel.

use std::fs;

/// Drops PID 1's resident code pages and trims the heap; returns the bytes advised away.
/// Best effort: a failure only leaves the memory resident.
pub fn release_startup_pages() -> usize {
    let Ok(maps) = fs::read_to_string("/proc/self/maps") else {
        return 0;
    };
    let mut released = 0;
    for (start, end) in code_ranges(&maps) {
        // SAFETY: the range is one of this process's own private, never-written, file-backed
        // executable mappings; MADV_DONTNEED only unmaps its pages, which fault back in from
        // the same file unchanged. Writable or relocated mappings are never touched.
        // MADV_RANDOM first: it turns fault-around off for the mapping, so what the loop
        // touches later comes back a page at a time rather than 64 KiB at a time.
        let rc = unsafe {
            let addr = start as *mut libc::c_void;
            libc::madvise(addr, end - start, libc::MADV_RANDOM);
            libc::madvise(addr, end - start, libc::MADV_DONTNEED)
        };
        if rc == 0 {
            released += end - start;
        }
    }
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    released
}

/// `(start, end)` of every private, read-only, executable mapping of a file in `maps`
/// (`/proc/self/maps` format).
fn code_ranges(maps: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let inode = fields.nth(2)?;
            if perms != "r-xp" || inode == "0" {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (end > start).then_some((start, end))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_private_read_only_code_of_files_is_chosen() {
        let maps = "\
55d0a0000000-55d0a0010000 r--p 00000000 fd:01 1234 /usr/lib/rkt/stage1/rkt-stage1
55d0a0010000-55d0a0200000 r-xp 00010000 fd:01 1234 /usr/lib/rkt/stage1/rkt-stage1
55d0a0200000-55d0a0210000 rw-p 00200000 fd:01 1234 /usr/lib/rkt/stage1/rkt-stage1
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0 [vdso]
7f0000000000-7f0000001000 r-xs 00000000 fd:01 99 /shared
";
        assert_eq!(code_ranges(maps), vec![(0x55d0a0010000, 0x55d0a0200000)]);
    }

    #[test]
    fn the_own_code_still_runs_after_release() {
        assert!(release_startup_pages() > 0);
        // Code dropped from the page tables faults back in from the file, unchanged.
        let maps = fs::read_to_string("/proc/self/maps").expect("own maps");
        assert!(!code_ranges(&maps).is_empty());
        assert_eq!(format!("{:x}", 0xc0de_u32 * 2), "181bc");
    }
}
