//! The lifecycle transitions: each a `rename(2)` between state folders, checked against the
//! pod's state and lock first. Only `prepared` is made durable (both folders fsynced): it is
//! the one state a user comes back to after a reboot. Every other state is either held by a
//! live process (a crash ends it anyway) or garbage that gc re-marks, so `rkt run` pays no
//! fsync for its transitions.

use std::fs;
use std::io;

use super::{Pod, PodDir, PodError, PodState, Result, io_err, remove};
use crate::fsutil;

impl Pod {
    fn wrong_state(&self, action: &'static str, expected: &'static str) -> PodError {
        PodError::WrongState {
            uuid: self.uuid,
            state: self.state(),
            action,
            expected,
        }
    }

    /// rename(2) to another folder; with `durable`, fsync both folders so the move survives a
    /// crash.
    fn move_to(&mut self, to: PodDir) -> Result<()> {
        self.move_to_with(to, false)
    }

    fn move_to_with(&mut self, to: PodDir, durable: bool) -> Result<()> {
        let from_dir = self.dir;
        let from = self.path();
        let dest = self.path_in(to);
        if let Err(e) = fs::rename(&from, &dest) {
            if e.kind() == io::ErrorKind::NotFound {
                // Someone else moved it (gc, a concurrent run); report where it is now.
                self.refresh()?;
                return Err(self.wrong_state("move", "where it was"));
            }
            return Err(io_err("rename", from)(e));
        }
        self.dir = to;
        if !durable {
            return Ok(());
        }
        for d in [to, from_dir] {
            let p = self.root.join(d.name());
            fsutil::sync_dir(&p).map_err(io_err("sync", p))?;
        }
        Ok(())
    }

    /// embryo → prepare (stays locked: "preparing").
    pub fn to_prepare(&mut self) -> Result<()> {
        if self.dir != PodDir::Embryo || !self.holds_exclusive() {
            return Err(self.wrong_state("prepare", "an embryo locked by us"));
        }
        self.move_to(PodDir::Prepare)
    }

    /// prepare → prepared, then unlock (what `rkt prepare` leaves behind).
    pub fn to_prepared(&mut self) -> Result<()> {
        if self.dir != PodDir::Prepare || !self.holds_exclusive() {
            return Err(self.wrong_state("finish preparing", "preparing under our lock"));
        }
        self.move_to_with(PodDir::Prepared, true)?;
        self.unlock()
    }

    /// preparing (our lock) or prepared → run, locked: "running" while this fd (or stage1's
    /// inherited copy) lives.
    pub fn to_run(&mut self) -> Result<()> {
        match self.dir {
            PodDir::Prepare if self.holds_exclusive() => {}
            PodDir::Prepared => {
                if !self.holds_exclusive() {
                    self.try_lock_exclusive()?;
                }
            }
            _ => return Err(self.wrong_state("run", "prepared")),
        }
        self.move_to(PodDir::Run)
    }

    /// run (exited) → exited-garbage. Also allowed while *we* hold the run lock (after
    /// locking an exited pod, as `rkt rm` does, so nobody can start using it in between).
    pub fn to_exited_garbage(&mut self) -> Result<()> {
        self.probe_lock()?;
        if self.state() != PodState::Exited && !(self.dir == PodDir::Run && self.holds_exclusive())
        {
            return Err(self.wrong_state("mark as garbage", "exited"));
        }
        self.move_to(PodDir::ExitedGarbage)
    }

    /// aborted prepare, prepared or a dead embryo → garbage.
    pub fn to_garbage(&mut self) -> Result<()> {
        self.probe_lock()?;
        let ok = match self.dir {
            PodDir::Embryo | PodDir::Prepared => true,
            PodDir::Prepare => self.holds_exclusive() || self.state() == PodState::AbortedPrepare,
            _ => false,
        };
        if !ok {
            return Err(self.wrong_state("mark as garbage", "a never-run pod"));
        }
        self.move_to(PodDir::Garbage)
    }

    /// Delete the pod directory (for gc and `rkt rm`): needs our exclusive lock and a garbage
    /// folder. Never follows symlinks and refuses to delete through a mount point.
    pub fn delete(&mut self) -> Result<()> {
        if !self.holds_exclusive() || !matches!(self.dir, PodDir::ExitedGarbage | PodDir::Garbage) {
            return Err(self.wrong_state("delete", "garbage and locked by us"));
        }
        remove::remove_pod_tree(self)
    }
}
