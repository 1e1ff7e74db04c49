//! Pod networking for the rkt-rs stage1 (rkt.md §5): which networks a pod joins ([`conf`]),
//! running CNI plugins for them ([`runner`]) and forwarding host ports into the pod
//! ([`portfwd`]).

pub mod conf;
pub mod portfwd;
pub mod runner;

/// One `--debug` line on stderr.
pub(crate) fn debug(on: bool, msg: &str) {
    if on {
        eprintln!("networking: {msg}");
    }
}
