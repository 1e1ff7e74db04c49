//! `rkt run-prepared` with the pod flags `rkt run` has: `--private-users` (the app runs as root
//! of its own user namespace, mapped to a fresh host range) and `--pids-limit` (the pod's
//! pids.max holds a fork bomb), with the real stage1.

use functional_tests::{InspectImage, RktCtx};

#[test]
fn run_prepared_takes_private_users_and_pids_limit() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/prepared-userns")
        .args(&[
            "--print-user",
            "--read-file=/proc/self/uid_map",
            "--fork-bomb=300",
        ])
        .build(&ctx.work());
    let uuid = ctx.prepare(&img);
    let out = ctx.rkt(&[
        "run-prepared",
        "--net=none",
        "--private-users",
        "--pids-limit=30",
        &uuid,
    ]);
    out.ok();
    assert_eq!(out.get("UID"), "0", "root inside: {out:#?}");
    let map: Vec<u64> = out
        .get("READ")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(map.len(), 3, "{out:#?}");
    assert_eq!((map[0], map[2]), (0, 65536), "{out:#?}");
    assert!(
        map[1] >= 1 << 20 && map[1].is_multiple_of(65536),
        "a fresh host range: {map:?}"
    );
    let forked: usize = out.get("FORKED").parse().unwrap();
    assert!(forked > 0 && forked < 30, "{out:#?}");
    assert_eq!(out.get("FORK_ERROR"), libc::EAGAIN.to_string());
}
