//! The pod lock crossing exec into stage1. Its own test binary: spawning forks, and until the
//! child execs it holds every fd of the process, so tests that check a lock is released
//! (`pod_lifecycle.rs`) would see it held now and then.

mod pod_support;

use std::process::Command;

use pod_support::*;
use stage0::pod::{Pod, PodState};

#[test]
fn the_lock_fd_crosses_exec_and_keeps_the_pod_running() {
    let d = data();
    let mut pod = prepared(&d.pods, IMAGE_B);
    pod.to_run().unwrap();
    let fd = pod.inherit_lock_fd().unwrap();
    let flags = rustix::io::fcntl_getfd(pod.lock_fd()).unwrap();
    assert!(!flags.contains(rustix::io::FdFlags::CLOEXEC));
    // The stand-in stage1 proves it got the fd by checking it is open in its own table.
    let mut stage1 = Command::new("sh")
        .arg("-c")
        .arg(format!("test -e /proc/self/fd/{fd} && exec sleep 1000"))
        .spawn()
        .unwrap();
    let uuid = pod.uuid();
    drop(pod);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        stage1.try_wait().unwrap().is_none(),
        "stage1 did not get the fd"
    );
    assert_eq!(
        Pod::open_uuid(&d.pods, uuid).unwrap().state(),
        PodState::Running
    );
    stage1.kill().unwrap();
    stage1.wait().unwrap();
    assert_eq!(
        Pod::open_uuid(&d.pods, uuid).unwrap().state(),
        PodState::Exited
    );
}
