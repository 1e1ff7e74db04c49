//! rkt-rs's default stage1: the pod's set-up and supervisor.
//!
//! stage0 execs one of the entrypoints below (named by the stage1 image's annotations, rkt
//! stage1 ABI interface version 6). All of them are one multi-call binary, `rkt-stage1`;
//! `argv[0]`'s file name picks the entrypoint.
//!
//! # The stage0 → stage1 boundary (interface version 6)
//!
//! **Entrypoints** (annotations of the stage1 image manifest → paths in its rootfs):
//!
//! | annotation | path | argv |
//! |---|---|---|
//! | `coreos.com/rkt/stage1/run` | `/usr/lib/rkt/stage1/init` | `[flags] <uuid>` |
//! | `coreos.com/rkt/stage1/enter` | `/usr/lib/rkt/stage1/enter` | `--pid=<pid> --appname=<app> -- <cmd> [args]` |
//! | `coreos.com/rkt/stage1/gc` | `/usr/lib/rkt/stage1/gc` | `[--debug] [--local-config=DIR] <uuid>` |
//! | `coreos.com/rkt/stage1/stop` | `/usr/lib/rkt/stage1/stop` | `[--force] <uuid>` |
//! | `coreos.com/rkt/stage1/interface-version` | `6` | |
//! | `rkt-rs.dev/stage1/rootfs` | `overlay-ro` (rkt-rs's own, optional) | |
//!
//! stage0 finds each entrypoint in the pod's `stage1/rootfs/` when the pod has a link farm,
//! otherwise (see below) in `<data>/cas/tree/<stage1TreeStoreID>/rootfs/`.
//! `run` flags: `--debug`, `--net=<spec>`, `--local-config=DIR`, `--hostname=H`,
//! `--interactive`, `--mds-token=T`, `--dns=X` (repeatable), `--dns-search=X`, `--dns-opt=X`,
//! `--dns-domain=X`, `--hosts-entry=IP=HOST|host` (repeatable), `--ipc=auto|private|parent`,
//! `--disable-capabilities-restriction`, `--disable-paths`, `--disable-seccomp`,
//! `--private-users=<shift>:<count>` (a user namespace mapping pod ids 0..count to host ids
//! shift..shift+count). Unknown flags are refused.
//!
//! **Working directory:** every entrypoint starts with its cwd = the pod directory,
//! `<data>/pods/<state>/<uuid>/`. The data dir is therefore `<cwd>/../../..`.
//!
//! **Fds and environment for `run`:** stage0 holds an exclusive `flock` on the pod directory
//! and passes that fd (close-on-exec cleared) as `RKT_LOCK_FD`; stage1 keeps it open for the
//! pod's whole life (the pod is "running" while the lock is held) and never lets it reach an
//! app. fds 0-2 are the caller's stdio, passed to the apps (stdin only with `--interactive`,
//! otherwise apps get `/dev/null`). `RKT_STAGE1_LOWER`: see `stage1/rootfs/` below.
//! `RKT_STAGE1_PIDS_LIMIT` (a positive number or `max`)
//! overrides the pods' default `pids.max` of 4096 (provisional: a `rkt run` flag should set
//! it). With `--mds-token`, `RKT_MDS_PORT` names the metadata service's port (default 18112);
//! stage1 then sets `AC_METADATA_URL` for every app (see [`mds`]).
//!
//! **Files stage0 writes before `run`** (paths relative to the pod dir):
//! - `pod`: the reified pod manifest. Each `apps[].app` is the effective runtime app (the
//!   image's app with every CLI override and the merged environment applied); when it is
//!   absent stage1 falls back to the image manifest's app.
//! - `pod-created`, `stage1TreeStoreID`, `stage1/manifest`.
//! - `stage1/rootfs/`: the stage1 image's rootfs (a hard-link farm of its rendered tree, so
//!   stage1 must replace files by rename and never write into an existing file). Except for a
//!   stage1 image annotated `rkt-rs.dev/stage1/rootfs=overlay-ro` when the pod uses overlay
//!   (no `--no-overlay`, overlayfs present): then `stage1/rootfs/` holds only the directories
//!   stage0 writes into (`/`, `opt`, `opt/stage2` with the tree's modes and owners, plus the
//!   per-app ones below), and `run` gets
//!   `RKT_STAGE1_LOWER=<data>/cas/tree/<stage1TreeStoreID>/rootfs` in its environment. PID 1
//!   binds that tree read-only on `stage1/rootfs` itself in the pod's mount namespace, and
//!   the host's `stage1/rootfs/opt/stage2` (read-only) and `stage1/rootfs/rkt` (writable)
//!   over the tree's empty `/opt/stage2` and `/rkt`, so the host sees what stage0 and stage1
//!   write at the same paths while the pod sees the whole tree (the value names what it
//!   first was: a read-only overlay). The other entrypoints find their
//!   own rootfs from their executable's path. Image gc keeps a tree a pod in any state but
//!   `garbage` names in `stage1TreeStoreID`.
//! - `appsinfo/<app>/manifest` (the image manifest) and `appsinfo/<app>/treeStoreID`.
//! - OCI/Docker images only: `appsinfo/<app>/treeStoreIDs`, one tree id per line, top first:
//!   the image's own tree (= `treeStoreID`), then its layer trees (`layer-sha256-<diff id>`).
//!   stage1 stacks all their `rootfs` dirs as the overlay's lower dirs (`lowerdir=a:b:c`);
//!   layer trees hold overlayfs whiteouts (0/0 char devices, `trusted.overlay.opaque`). When
//!   the file is absent, `treeStoreID` alone is the lower dir.
//! - `stage1/rootfs/opt/stage2/<app>/manifest` (the image manifest) and
//!   `stage1/rootfs/opt/stage2/<app>/rootfs/`: an empty mount point when the file
//!   `overlay-prepared` exists (then the lower dir is `<data>/cas/tree/<treeStoreID>/rootfs` and
//!   the upper and work dirs `overlay/<treeStoreID>/upper/<app>` and
//!   `overlay/<treeStoreID>/work/<app>`, created by stage0), otherwise a full copy of the app's
//!   rendered rootfs (`--no-overlay`).
//! - `sharedVolumes/` (0700): stage1 creates `empty` volumes in it.
//!
//! **Files stage1 writes** (relative to the pod dir; all by write-to-temp + rename):
//! - `pid`: the host pid of the pod's PID 1 (its namespaces are what `enter` joins), written
//!   once the pod's mounts are ready and before the first app starts.
//! - `stage1/rootfs/rkt/status/<app>`: the app's exit code in decimal (128 + signal number
//!   when a signal killed it), written when it exits.
//! - `stage1/rootfs/rkt/appspec/<app>.json`: the [`stage2::AppSpec`] the app was started with
//!   (`enter` reuses it with another command).
//! - `stage1/rootfs/rkt/supervisor-status`: a symlink to `ready` once every app has started.
//! - CNI networks only (see [`net`]): `netns` (path of the pinned netns,
//!   `/run/rkt/netns/rkt-<uuid>`), `net/eth<i>.conf` (the confs used), `net/ports` (port
//!   forwarding was set up), `net-info.json` (read by `rkt list/status`), all written before
//!   `pid` (the plugins run on the host side while PID 1 mounts; no app starts before).
//! - `cgroups`: the pod's cgroup directory in each hierarchy (host paths, one per line),
//!   written before they are made; `gc` removes them. `subcgroup` (rkt's): the pod's cgroup
//!   relative to its hierarchy's root. See [`cgroup`].
//! - `stage1/rootfs/rkt/status/<app>.oom`: the app's OOM kill count, written (before its exit
//!   code) when the app died of SIGKILL and its memory cgroup counted an OOM kill.
//!
//! **Mounts:** all made inside the pod's own mount namespace (private propagation), none in
//! the host's: when the pod's last process dies, the kernel drops them. `gc` only has to
//! release what outlives the processes (networks and cgroups) and unmounts anything left under
//! the pod dir.
//!
//! **Exit status of `run`:** the pod's: with one app, its exit code; with several, the code of
//! the first app to fail (the others are then stopped); 0 when all succeed. 254 when stage1
//! itself fails, with one line on stderr.
//!
//! # Inside the pod
//!
//! The pod's PID 1 (`init`'s child in the new pid namespace) pivots into the stage1 rootfs,
//! with `/usr` read-only, its own `/proc` and no `/dev`; app roots are at
//! `/opt/stage2/<app>/rootfs`, each with its own `/dev`, `/proc` and `/sys`. It starts each app
//! by running stage2 (see the `stage2` crate) in a forked child with the app's spec in memory,
//! the spec that `/rkt/appspec/<app>.json` holds; `enter` runs
//! `/usr/lib/rkt/stage1/stage2 --spec FILE` instead.

pub mod appspec;
pub mod cgroup;
pub mod context;
pub mod enter;
pub mod gc;
pub mod init;
pub mod journal;
pub mod machined;
pub mod mds;
pub mod memory;
pub mod net;
pub mod notify;
pub mod ns;
pub mod setup;
pub mod status;
pub mod stop;
pub mod supervisor;
