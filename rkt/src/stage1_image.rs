//! The default stage1 image embedded in the `rkt` binary at build time (see `rkt/build.rs`
//! and the Makefile's `stage1` target).

/// The embedded stage1 ACI and its store key.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedStage1 {
    /// The ACI file as built by `make stage1`.
    pub bytes: &'static [u8],
    /// Its image ID in the store's key form (`sha512-` + 64 hex digits of the SHA-512 of the
    /// uncompressed tar), computed at build time so a run never hashes it again.
    pub id: &'static str,
}

/// The embedded stage1, when this binary was built with one.
pub fn embedded() -> Option<EmbeddedStage1> {
    None
}
