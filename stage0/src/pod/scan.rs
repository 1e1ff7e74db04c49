//! Reading many pods at once (`rkt list`): a few threads over contiguous runs of UUIDs.

use super::{Pod, PodDir, PodError, Pods, Result, Uuid};

/// Below this many pods a listing stays on one thread: starting threads would cost more.
const PARALLEL_MIN_PODS: usize = 64;
/// Listing is syscall-bound; more threads than this only contend on the same directories.
const MAX_LIST_THREADS: usize = 4;

impl Pods {
    /// `f` applied to each pod currently in one of `dirs` (pods that vanish or move out of
    /// `dirs` meanwhile are skipped, as in [`Pods::for_each`]), results in UUID order. Many pods
    /// are split into contiguous runs read on a few threads; `state` makes each thread's
    /// scratch state (e.g. a cache), so `f` needs no locking.
    pub fn map_pods<T: Send, S>(
        &self,
        dirs: &[PodDir],
        state: impl Fn() -> S + Sync,
        f: impl Fn(&mut S, Pod) -> T + Sync,
    ) -> Result<Vec<T>> {
        let seen = self.scan(dirs)?;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_LIST_THREADS);
        let run = |part: &[(Uuid, PodDir)]| -> Result<Vec<T>> {
            let mut s = state();
            let mut out = Vec::with_capacity(part.len());
            for &(uuid, seen_in) in part {
                match Pod::open_seen(self, uuid, seen_in) {
                    Ok(pod) if dirs.contains(&pod.dir()) => out.push(f(&mut s, pod)),
                    Ok(_) | Err(PodError::Gone { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        };
        if threads < 2 || seen.len() < PARALLEL_MIN_PODS {
            return run(&seen);
        }
        let parts: Vec<Result<Vec<T>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = seen
                .chunks(seen.len().div_ceil(threads))
                .map(|part| scope.spawn(move || run(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut out = Vec::with_capacity(seen.len());
        for part in parts {
            out.extend(part?);
        }
        Ok(out)
    }
}
