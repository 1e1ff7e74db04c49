//! Pod networking for the rkt-rs stage1 (rkt.md §5): which networks a pod joins ([`conf`]),
//! running CNI plugins for them ([`runner`]), forwarding host ports into the pod
//! ([`portfwd`]), and our own CNI plugins ([`plugins`]: ptp, bridge, host-local, loopback),
//! which run as separate processes from the `rkt-net-plugin` binary.

pub mod conf;
pub mod plugins;
pub mod portfwd;
pub mod runner;

/// One `--debug` line on stderr.
pub(crate) fn debug(on: bool, msg: &str) {
    if on {
        eprintln!("networking: {msg}");
    }
}
