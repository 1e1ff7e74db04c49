//! Archive reading over arbitrary bytes (any compression): errors are fine, panics and
//! unbounded memory are not; every entry handed out has a path that stays inside the rootfs.
#![no_main]

use std::io::Read;
use std::path::Component;

use aci::archive::{ArchiveError, ReadOptions, read_archive};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ReadOptions {
        max_manifest_size: 64 * 1024,
        max_uncompressed_size: Some(16 * 1024 * 1024),
        want_entries: true,
    };
    let _ = read_archive(data, &opts, |h, r: &mut dyn Read| {
        assert!(h.path.components().all(|c| matches!(c, Component::Normal(_))));
        let mut sink = std::io::sink();
        std::io::copy(&mut r.take(1 << 20), &mut sink).map_err(ArchiveError::Io)?;
        Ok::<(), ArchiveError>(())
    });
});
