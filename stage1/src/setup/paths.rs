//! `/dev`, `/proc`, `/sys` and `/tmp` of a root (an app's or the stage1 root's).

use std::path::Path;

use super::sys::{Follow, MountFlags, MountSys, NodeKind, Target};
use super::{Result, sys_err};

/// The character devices of each `/dev` (name, major, minor: the kernel's fixed numbers),
/// made in its fresh tmpfs by mknod (one syscall each, where a bind of the host's node was a
/// mount each). What an app can open is still decided by its device cgroup, not by the node.
pub const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// `/proc` entries made read-only: runc's list, which covers rkt's
/// `/proc/sys/kernel/{core_pattern,modprobe}` and `/proc/sys/vm/panic_on_oom`.
pub const PROC_READ_ONLY: [&str; 5] = ["bus", "fs", "irq", "sys", "sysrq-trigger"];

/// `/proc` entries hidden (files: `/dev/null` bound over; dirs: an empty read-only tmpfs):
/// the union of rkt's, runc's and podman's lists (security.md §4 "Masked").
pub const PROC_HIDDEN: [&str; 14] = [
    "acpi",
    "asound",
    "config.gz",
    "interrupts",
    "kallsyms",
    "kcore",
    "keys",
    "kmem",
    "latency_stats",
    "mem",
    "sched_debug",
    "scsi",
    "timer_list",
    "timer_stats",
];

/// `/sys` dirs hidden by an empty read-only tmpfs (rkt's list + podman's powercap, and its
/// per-CPU `thermal_throttle` dirs, found at run time); the rest of `/sys` is a read-only
/// sysfs. `fs` takes runc's `/sys/fs/selinux` and every cgroup file system with it: apps see
/// no cgroupfs at all, so none is writable.
pub const SYS_HIDDEN: [&str; 6] = [
    "firmware",
    "fs",
    "hypervisor",
    "module",
    "power",
    "devices/virtual/powercap",
];

fn open_dir(sys: &mut dyn MountSys, root: &Path, rel: &str, mode: u32) -> Result<Target> {
    let rel = Path::new(rel);
    sys.open_in_root(root, rel, Follow::Never, Some((NodeKind::Dir, mode)))
        .map_err(sys_err("create the directory", &root.join(rel)))
}

fn open_file(sys: &mut dyn MountSys, root: &Path, rel: &str, mode: u32) -> Result<Target> {
    let rel = Path::new(rel);
    sys.open_in_root(root, rel, Follow::Never, Some((NodeKind::File, mode)))
        .map_err(sys_err("create the file", &root.join(rel)))
}

fn link(sys: &mut dyn MountSys, root: &Path, rel: &str, to: &str) -> Result<()> {
    let rel = Path::new(rel);
    sys.symlink_in_root(root, rel, to)
        .map_err(sys_err("create the symlink", &root.join(rel)))
}

fn mount(
    sys: &mut dyn MountSys,
    fstype: &str,
    target: &Target,
    flags: MountFlags,
    data: &str,
) -> Result<()> {
    sys.mount_fs(fstype, fstype, target, flags, data)
        .map_err(sys_err("mount a file system on", &target.shown))
}

/// A fresh tmpfs `/dev` with the basic devices made in it, a private devpts, shm and
/// the usual links. `tty` (the caller's terminal) becomes `/dev/console`.
pub(super) fn setup_dev(root: &Path, tty: Option<&Target>, sys: &mut dyn MountSys) -> Result<()> {
    let dev = open_dir(sys, root, "dev", 0o755)?;
    let flags = MountFlags::NOSUID | MountFlags::STRICTATIME;
    mount(sys, "tmpfs", &dev, flags, "mode=755,size=65536k")?;
    drop(dev);
    // Opened again: the fd above is the image's directory under the tmpfs.
    let dev = open_dir(sys, root, "dev", 0o755)?;
    for (name, major, minor) in DEVICES {
        sys.mknod_char(&dev, name, (major, minor), 0o666)
            .map_err(sys_err("make a device node in", &dev.shown.join(name)))?;
    }
    drop(dev);
    if let Some(tty) = tty {
        let dst = open_file(sys, root, "dev/console", 0o600)?;
        sys.bind(tty, &dst, false, false)
            .map_err(sys_err("bind-mount the terminal on", &dst.shown))?;
    }
    let pts = open_dir(sys, root, "dev/pts", 0o755)?;
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC;
    let data = "newinstance,ptmxmode=0666,mode=0620,gid=5";
    mount(sys, "devpts", &pts, flags, data)?;
    link(sys, root, "dev/ptmx", "pts/ptmx")?;
    let shm = open_dir(sys, root, "dev/shm", 0o1777)?;
    mount(
        sys,
        "tmpfs",
        &shm,
        MountFlags::NOSUID | MountFlags::NODEV,
        "mode=1777",
    )?;
    link(sys, root, "dev/fd", "/proc/self/fd")?;
    for (i, name) in ["stdin", "stdout", "stderr"].into_iter().enumerate() {
        link(
            sys,
            root,
            &format!("dev/{name}"),
            &format!("/proc/self/fd/{i}"),
        )?;
    }
    Ok(())
}

/// What the masks of every app share: one empty read-only tmpfs (the first hidden directory
/// gets it, every later one a bind of it: a bind is a fraction of a new superblock's cost), the
/// host's `/dev/null` for hidden files, and the host's `thermal_throttle` list.
#[derive(Default)]
pub(super) struct Masks {
    empty: Option<Target>,
    null: Option<Target>,
    throttle: Option<Vec<String>>,
}

/// A fresh procfs (of the pod's pid namespace); with `masks`, the read-only and hidden lists.
pub(super) fn setup_proc(
    root: &Path,
    masks: Option<&mut Masks>,
    sys: &mut dyn MountSys,
) -> Result<()> {
    let proc = open_dir(sys, root, "proc", 0o555)?;
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    mount(sys, "proc", &proc, flags, "")?;
    drop(proc);
    let Some(masks) = masks else {
        return Ok(());
    };
    for name in PROC_READ_ONLY {
        if let Some(t) = existing(sys, root, &format!("proc/{name}"))? {
            sys.bind(&t, &t, false, true)
                .map_err(sys_err("bind-mount read-only", &t.shown))?;
        }
    }
    hide(sys, root, "proc", &PROC_HIDDEN, masks)
}

/// A fresh read-only sysfs; with `masks`, the hidden list.
pub(super) fn setup_sys(
    root: &Path,
    masks: Option<&mut Masks>,
    sys: &mut dyn MountSys,
) -> Result<()> {
    let dir = open_dir(sys, root, "sys", 0o555)?;
    let flags = MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    mount(sys, "sysfs", &dir, flags, "")?;
    drop(dir);
    let Some(masks) = masks else {
        return Ok(());
    };
    hide(sys, root, "sys", &SYS_HIDDEN, masks)?;
    let throttle = masks
        .throttle
        .get_or_insert_with(|| thermal_throttle_dirs(Path::new("/sys/devices/system/cpu")))
        .clone();
    let names: Vec<&str> = throttle.iter().map(String::as_str).collect();
    hide(sys, root, "sys", &names, masks)
}

/// podman's per-CPU `thermal_throttle` dirs (`devices/system/cpu/cpu<N>/thermal_throttle`,
/// relative to `/sys`), as the host's sysfs at `cpu_dir` lists them: the pod's sysfs shows
/// the same CPUs.
fn thermal_throttle_dirs(cpu_dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(cpu_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let n = name.strip_prefix("cpu")?;
            let is_cpu = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
            (is_cpu && e.path().join("thermal_throttle").is_dir())
                .then(|| format!("devices/system/cpu/{name}/thermal_throttle"))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
#[test]
fn finds_thermal_throttle_dirs_of_cpus_only() {
    let tmp = tempfile::tempdir().unwrap();
    for d in [
        "cpu0/thermal_throttle",
        "cpu12/thermal_throttle",
        "cpufreq/thermal_throttle",
        "cpu1",
    ] {
        std::fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    assert_eq!(
        thermal_throttle_dirs(tmp.path()),
        [
            "devices/system/cpu/cpu0/thermal_throttle",
            "devices/system/cpu/cpu12/thermal_throttle"
        ]
    );
}

/// The stage1 root's own `/tmp`: a small tmpfs, where stage1 writes what only the pod reads
/// (the generated `/etc` files): files on the host's disk would cost an inode each.
pub(super) fn mount_stage1_tmp(root: &Path, sys: &mut dyn MountSys) -> Result<()> {
    let tmp = open_dir(sys, root, "tmp", 0o755)?;
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    mount(sys, "tmpfs", &tmp, flags, "mode=755,size=4m")
}

/// `/tmp`, created world-writable and sticky when the image has none.
pub(super) fn setup_tmp(root: &Path, sys: &mut dyn MountSys) -> Result<()> {
    let rel = Path::new("tmp");
    sys.open_in_root(root, rel, Follow::InRoot, Some((NodeKind::Dir, 0o1777)))
        .map_err(sys_err("create the directory", &root.join(rel)))?;
    Ok(())
}

/// The node at `rel` if this kernel has it.
fn existing(sys: &mut dyn MountSys, root: &Path, rel: &str) -> Result<Option<Target>> {
    let rel = Path::new(rel);
    match sys.open_in_root(root, rel, Follow::Never, None) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(sys_err("open", &root.join(rel))(e)),
    }
}

fn hide(
    sys: &mut dyn MountSys,
    root: &Path,
    base: &str,
    names: &[&str],
    masks: &mut Masks,
) -> Result<()> {
    for name in names {
        let rel = format!("{base}/{name}");
        let Some(t) = existing(sys, root, &rel)? else {
            continue;
        };
        if t.is_dir {
            if let Some(empty) = &masks.empty {
                // Read-only asked again: the bind must not depend on the source's flags.
                sys.bind(empty, &t, false, true)
                    .map_err(sys_err("hide (bind an empty tmpfs on)", &t.shown))?;
                continue;
            }
            let flags =
                MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
            mount(sys, "tmpfs", &t, flags, "mode=0,size=4k")?;
            drop(t);
            // Opened again: the fd above is the directory under the new tmpfs.
            masks.empty = existing(sys, root, &rel)?;
            continue;
        }
        if masks.null.is_none() {
            let path = Path::new("/dev/null");
            masks.null = Some(sys.open_host(path).map_err(sys_err("open", path))?);
        }
        if let Some(null) = &masks.null {
            sys.bind(null, &t, false, true)
                .map_err(sys_err("hide (bind /dev/null on)", &t.shown))?;
        }
    }
    Ok(())
}
