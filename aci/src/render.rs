//! Rendering a stack of images (an image and its dependencies) into one directory (appc.md §4,
//! T16).
//!
//! Layers are walked top image first and the upper layer wins: a path already provided by an
//! upper layer is skipped in lower ones, so nothing is ever overwritten (and no symlink a lower
//! layer would have left is ever followed). As in the reference renderer:
//! * `pathWhitelist` is an exact path match and filters only non-directories; a layer is
//!   filtered by its own whitelist and by those of the images above it on its path;
//! * an entry is skipped if any of its parents was provided by an upper layer as a
//!   non-directory (e.g. an upper `lib -> usr/lib` hides a lower `lib/x`).
//!
//! Optional whiteouts (for Docker/OCI layers; appc has none): a layer's whiteout hides that path
//! and everything below it in the layers *under* it, never in its own layer.
//!
//! This module knows nothing of archives or manifests: each [`Layer`] streams its entries
//! through a closure, and [`render_plan`] takes a callback for the dependency graph.

mod plan;
mod record;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::entry::{EntryHeader, EntryKind, PathError, normalize_rel};
use crate::extract::{Applied, ExtractError, ExtractOptions, Extractor, SkipReason, Stats};
pub use plan::{ImageDeps, MAX_DEPTH, MAX_LAYERS, PlannedLayer, render_order, render_plan};
pub use record::{DigestAlgo, FileDigest, Node, NodeKind, Record};
use record::{HashingReader, Recorder};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("dependency cycle: {}", chain.join(" -> "))]
    Cycle { chain: Vec<String> },
    #[error("dependency chain deeper than {limit} images: {}", chain.join(" -> "))]
    TooDeep { limit: usize, chain: Vec<String> },
    #[error(
        "more than {limit} layers to render (reached at image {image}); the dependency graph is too large"
    )]
    TooManyLayers { limit: usize, image: String },
    #[error("dependency {image} of the image cannot be resolved: {reason}")]
    Dependency { image: String, reason: String },
    #[error(
        "layer {layer}: whitelist entry {entry:?} is not a valid path inside the rootfs: {source}"
    )]
    Whitelist {
        layer: String,
        entry: String,
        source: PathError,
    },
    #[error("layer {layer}: whiteout {path:?} is not a valid path inside the rootfs: {source}")]
    Whiteout {
        layer: String,
        path: PathBuf,
        source: PathError,
    },
    #[error("layer {layer}: entry {path:?} refused: {source}")]
    Entry {
        layer: String,
        path: PathBuf,
        source: PathError,
    },
    #[error("layer {layer}: {source}")]
    Extract { layer: String, source: ExtractError },
    #[error("cannot open render destination: {0}")]
    Destination(ExtractError),
    #[error("layer {layer}: reading its entries failed: {source}")]
    Walk {
        layer: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The sink a layer's `walk` feeds each entry (header and data) into.
pub type EntrySink<'s> = dyn FnMut(&EntryHeader, &mut dyn Read) -> Result<(), RenderError> + 's;

/// One image's rootfs, as a stream of entries.
pub struct Layer<'a> {
    /// A name for error messages (e.g. the image name or ID).
    pub name: String,
    /// Non-empty whitelists that all must list a non-directory for it to be kept (its own and
    /// those of the images above it; see [`PlannedLayer::whitelists`]). Paths are absolute as
    /// in manifests (`/etc/passwd`).
    pub whitelists: Vec<Vec<String>>,
    /// Paths removed by this layer: hidden (with everything below) in lower layers only.
    pub whiteouts: Vec<PathBuf>,
    /// Streams the layer's entries, in archive order, into the given sink.
    #[allow(clippy::type_complexity)]
    pub walk: Box<dyn FnMut(&mut EntrySink<'_>) -> Result<(), RenderError> + 'a>,
}

/// Counters of one render.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderStats {
    pub extract: Stats,
    pub layers: usize,
    /// Entries whose path an upper layer already provided.
    pub overridden: u64,
    /// Non-directories not listed in a whitelist.
    pub not_whitelisted: u64,
    /// Entries hidden by an upper layer's whiteout.
    pub whited_out: u64,
    /// Entries below a path an upper layer provided as a non-directory.
    pub under_non_dir: u64,
    /// Hard links whose target this layer did not write (filtered, whited out or overridden):
    /// skipped, since linking would share an upper layer's file or fail.
    pub dangling_hard_links: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provided {
    Dir,
    NonDir,
    /// A parent directory created for an entry, not listed itself.
    ImplicitDir,
}

/// Render `layers_top_first` (the root image first, its lowest dependency last) into `dest`,
/// which must exist and should be empty.
pub fn render(
    dest: &Path,
    layers_top_first: Vec<Layer<'_>>,
    opts: ExtractOptions,
) -> Result<RenderStats, RenderError> {
    render_with(dest, layers_top_first, opts, None).map(|(stats, _)| stats)
}

/// [`render`], also returning a [`Record`] of every node written (see `record.rs`): what a
/// listing of the finished tree would show, without reading the tree back.
pub fn render_recorded(
    dest: &Path,
    layers_top_first: Vec<Layer<'_>>,
    opts: ExtractOptions,
) -> Result<(RenderStats, Record), RenderError> {
    let recorder = Recorder::new(opts.preserve_ownership);
    let (stats, recorder) = render_with(dest, layers_top_first, opts, Some(recorder))?;
    Ok((stats, recorder.map(|r| r.record).unwrap_or_default()))
}

fn render_with(
    dest: &Path,
    layers_top_first: Vec<Layer<'_>>,
    opts: ExtractOptions,
    recorder: Option<Recorder>,
) -> Result<(RenderStats, Option<Recorder>), RenderError> {
    let mut ex = Extractor::new(dest, opts).map_err(RenderError::Destination)?;
    let mut st = State {
        provided: HashMap::new(),
        hidden: HashSet::new(),
        stats: RenderStats::default(),
        recorder,
    };
    for (index, mut layer) in layers_top_first.into_iter().enumerate() {
        let whitelists = parse_whitelists(&layer)?;
        let mut ctx = LayerCtx {
            index,
            name: &layer.name,
            whitelists,
            written: HashSet::new(),
        };
        let mut sink = |h: &EntryHeader, data: &mut dyn Read| st.entry(&mut ex, &mut ctx, h, data);
        (layer.walk)(&mut sink)?;
        for w in &layer.whiteouts {
            let p = normalize_rel(w).map_err(|source| RenderError::Whiteout {
                layer: layer.name.clone(),
                path: w.clone(),
                source,
            })?;
            st.hidden.insert(p);
        }
        st.stats.layers += 1;
    }
    let extract = ex.finish().map_err(RenderError::Destination)?;
    let stats = RenderStats {
        extract,
        ..st.stats
    };
    Ok((stats, st.recorder))
}

struct State {
    /// Paths written so far, with the index of the layer that provided them.
    provided: HashMap<PathBuf, (usize, Provided)>,
    /// Whiteouts of the layers already rendered (all above the current one).
    hidden: HashSet<PathBuf>,
    stats: RenderStats,
    recorder: Option<Recorder>,
}

struct LayerCtx<'l> {
    index: usize,
    name: &'l str,
    /// Normalised whitelists (relative paths).
    whitelists: Vec<HashSet<PathBuf>>,
    /// Non-directories this layer wrote, for its hard links.
    written: HashSet<PathBuf>,
}

impl State {
    fn entry(
        &mut self,
        ex: &mut Extractor,
        l: &mut LayerCtx<'_>,
        h: &EntryHeader,
        data: &mut dyn Read,
    ) -> Result<(), RenderError> {
        let path = normalize_rel(&h.path).map_err(|source| RenderError::Entry {
            layer: l.name.to_string(),
            path: h.path.clone(),
            source,
        })?;
        let is_dir = h.kind == EntryKind::Dir;
        if self.is_hidden(&path) {
            self.stats.whited_out += 1;
            return Ok(());
        }
        match self.provided.get(&path) {
            // Same layer: a duplicate, which the extractor judges by `on_existing`.
            Some((i, _)) if *i == l.index => {}
            Some((_, Provided::ImplicitDir)) if is_dir => {}
            Some(_) => {
                self.stats.overridden += 1;
                return Ok(());
            }
            None => {}
        }
        if self.under_upper_non_dir(&path, l.index) {
            self.stats.under_non_dir += 1;
            return Ok(());
        }
        if !is_dir && !l.whitelists.iter().all(|w| w.contains(&path)) {
            self.stats.not_whitelisted += 1;
            return Ok(());
        }
        if let EntryKind::HardLink(target) = &h.kind {
            let same_layer = normalize_rel(target).is_ok_and(|t| l.written.contains(&t));
            if !same_layer {
                self.stats.dangling_hard_links.push(path);
                return Ok(());
            }
        }
        let extract_err = |source| RenderError::Extract {
            layer: l.name.to_string(),
            source,
        };
        let Some(recorder) = &mut self.recorder else {
            let applied = ex.apply(h, data).map_err(extract_err)?;
            self.after_apply(l, path, is_dir, applied);
            return Ok(());
        };
        let (applied, digest) = if h.kind == EntryKind::File {
            let mut hashing = HashingReader::new(data);
            let applied = ex.apply(h, &mut hashing).map_err(extract_err)?;
            (applied, Some(hashing.digest()))
        } else {
            (ex.apply(h, data).map_err(extract_err)?, None)
        };
        recorder.implicit_dirs(ex).map_err(extract_err)?;
        if applied == Applied::Written {
            recorder.written(&path, h, digest);
        }
        self.after_apply(l, path, is_dir, applied);
        Ok(())
    }

    fn after_apply(&mut self, l: &mut LayerCtx<'_>, path: PathBuf, is_dir: bool, applied: Applied) {
        let record = match applied {
            Applied::Written => true,
            // An upper device node still hides lower entries at its path.
            Applied::Skipped(SkipReason::Device) => true,
            Applied::Skipped(SkipReason::Duplicate | SkipReason::Existing) => false,
        };
        if record {
            self.record(l, path, is_dir);
        }
    }

    fn record(&mut self, l: &mut LayerCtx<'_>, path: PathBuf, is_dir: bool) {
        for anc in path.ancestors().skip(1) {
            if self.provided.contains_key(anc) {
                break;
            }
            self.provided
                .insert(anc.to_path_buf(), (l.index, Provided::ImplicitDir));
        }
        if is_dir {
            self.provided.insert(path, (l.index, Provided::Dir));
        } else {
            l.written.insert(path.clone());
            self.provided.insert(path, (l.index, Provided::NonDir));
        }
    }

    fn is_hidden(&self, path: &Path) -> bool {
        !self.hidden.is_empty() && path.ancestors().any(|a| self.hidden.contains(a))
    }

    /// True if a parent of `path` was provided as a non-directory by a layer above `index`.
    fn under_upper_non_dir(&self, path: &Path, index: usize) -> bool {
        path.ancestors()
            .skip(1)
            .any(|a| matches!(self.provided.get(a), Some((i, Provided::NonDir)) if *i != index))
    }
}

fn parse_whitelists(layer: &Layer<'_>) -> Result<Vec<HashSet<PathBuf>>, RenderError> {
    let mut out = Vec::new();
    for list in layer.whitelists.iter().filter(|l| !l.is_empty()) {
        let mut set = HashSet::with_capacity(list.len());
        for entry in list {
            // Manifests list absolute paths; compare them as paths relative to the rootfs.
            let rel = Path::new(entry.trim_start_matches('/'));
            let p = normalize_rel(rel).map_err(|source| RenderError::Whitelist {
                layer: layer.name.clone(),
                entry: entry.clone(),
                source,
            })?;
            set.insert(p);
        }
        out.push(set);
    }
    Ok(out)
}
