//! What this process has read from the store, so that one command reads each image's info and
//! manifest once: resolving an image, rendering it, preparing a pod from it and recording its
//! use each asked for them again (on `rkt run`, every info file three times and each manifest
//! four). Manifests are content-addressed and never change under their key. Infos do change
//! (`last_used`, `origin`, by this or another process): writes of this process update the cache,
//! and reads made under an image's lock ([`Store::info_fresh`]) bypass it, so no update is lost.
//! Absent images are never cached: another process may import them at any time.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use aci::manifest::ImageManifest;

use super::ImageInfo;

#[derive(Debug, Default)]
pub(super) struct ReadCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    infos: HashMap<String, ImageInfo>,
    /// Set once `cas/info` was listed: `infos` then holds every image (and this process's
    /// writes since), so a listing needs no more reads.
    listed: bool,
    manifests: HashMap<String, (Vec<u8>, Option<ImageManifest>)>,
}

impl ReadCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The maps stay consistent even if a holder panicked: each update is one insert/remove.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn info(&self, key: &str) -> Option<ImageInfo> {
        self.lock().infos.get(key).cloned()
    }

    pub(super) fn put_info(&self, info: &ImageInfo) {
        self.lock().infos.insert(info.key.clone(), info.clone());
    }

    /// The image is gone (removed by this process, or found missing).
    pub(super) fn forget(&self, key: &str) {
        let mut inner = self.lock();
        inner.infos.remove(key);
        inner.manifests.remove(key);
    }

    pub(super) fn listing(&self) -> Option<Vec<ImageInfo>> {
        let inner = self.lock();
        inner
            .listed
            .then(|| inner.infos.values().cloned().collect())
    }

    pub(super) fn put_listing(&self, infos: &[ImageInfo]) {
        let mut inner = self.lock();
        inner.infos = infos.iter().map(|i| (i.key.clone(), i.clone())).collect();
        inner.listed = true;
    }

    pub(super) fn manifest_bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().manifests.get(key).map(|(b, _)| b.clone())
    }

    pub(super) fn put_manifest_bytes(&self, key: &str, bytes: &[u8]) {
        self.lock()
            .manifests
            .entry(key.to_string())
            .or_insert_with(|| (bytes.to_vec(), None));
    }

    pub(super) fn manifest(&self, key: &str) -> Option<ImageManifest> {
        self.lock().manifests.get(key).and_then(|(_, m)| m.clone())
    }

    pub(super) fn put_manifest(&self, key: &str, bytes: &[u8], manifest: &ImageManifest) {
        self.lock()
            .manifests
            .insert(key.to_string(), (bytes.to_vec(), Some(manifest.clone())));
    }
}
