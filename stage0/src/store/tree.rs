//! Rendered trees: an image flattened with its dependencies, rendered once and shared read-only
//! by every pod (overlayfs lower dir).
//!
//! `cas/tree/<id>/` holds `rootfs/`, `image` (the top image's key), `files` (one line per node:
//! what `image verify` re-checks), `hash` (SHA-512 of `files`) and `rendered`, written last.
//! A tree without `rendered` is incomplete and is removed when the store opens. The tree ID is
//! `deps-` + the SHA-512 key of the render order's image keys joined by commas, as in rkt, so one
//! image rendered over different dependency versions gets different trees.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aci::archive::{ReadOptions, read_archive};
use aci::extract::ExtractOptions;
use aci::manifest::ImageManifest;
use aci::render::{
    DigestAlgo, FileDigest, ImageDeps, Layer, Node, NodeKind, RenderError, render, render_plan,
    render_recorded,
};
use sha2::{Digest, Sha512};

use super::space::{SpaceError, SpaceGuard};
use super::{DIR_MODE, FILE_MODE, ImageInfo, Store, StoreError};
use crate::fsutil::{self, FileLock, LockMode};

/// A tree ready to be used as a pod's lower dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub id: String,
    pub dir: PathBuf,
    /// The image keys in render order, lowest first (the top image last).
    pub images: Vec<String>,
}

impl Tree {
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
}

/// One node of a tree that does not match what was recorded when it was rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub path: String,
    pub problem: String,
}

/// An image of a render order with the whitelists that filter it (its own, then its parents').
pub type PlannedImage = (ImageInfo, Vec<Vec<String>>);

/// The tree ID for a render order.
pub fn tree_id(keys: &[String]) -> String {
    let digest = Sha512::digest(keys.join(",").as_bytes());
    format!("deps-sha512-{}", &hex::encode(digest)[..64])
}

impl Store {
    fn tree_dir(&self, id: &str) -> PathBuf {
        self.cas.join("tree").join(id)
    }

    /// The render order of an image and its dependencies, all resolved from the store.
    pub fn render_order(&self, key: &str) -> Result<Vec<PlannedImage>, StoreError> {
        let dep_err = |image: &str, e: StoreError| RenderError::Dependency {
            image: image.to_string(),
            reason: e.to_string(),
        };
        let plan = render_plan(key.to_string(), |k: &String| {
            let m = self.manifest(k).map_err(|e| dep_err(k, e))?;
            let deps = m
                .dependencies
                .iter()
                .map(|d| {
                    self.resolve_dependency(&m, d)
                        .map(|i| i.key)
                        .map_err(|e| dep_err(k, e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ImageDeps {
                deps,
                whitelist: m.path_whitelist.clone(),
            })
        })
        .map_err(|e| StoreError::Render {
            key: key.to_string(),
            message: e.to_string(),
        })?;
        plan.into_iter()
            .map(|p| {
                let info = self
                    .info(&p.key)?
                    .ok_or_else(|| StoreError::NotFound(p.key.clone()))?;
                Ok((info, p.whitelists))
            })
            .collect()
    }

    /// The stored image a dependency names: by image ID when it has one, else the newest image
    /// with its name and labels. None when the store has no such image.
    pub fn find_dependency(
        &self,
        dep: &aci::manifest::Dependency,
    ) -> Result<Option<ImageInfo>, StoreError> {
        match &dep.image_id {
            Some(id) => Ok(self.find_by_id(id.as_str()).ok()),
            None => {
                let labels = dep
                    .labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.clone()))
                    .collect();
                self.find_by_name(dep.image_name.as_str(), &labels)
            }
        }
    }

    fn resolve_dependency(
        &self,
        parent: &ImageManifest,
        dep: &aci::manifest::Dependency,
    ) -> Result<ImageInfo, StoreError> {
        let found = self.find_dependency(dep)?;
        found.ok_or_else(|| {
            StoreError::NotFound(format!(
                "{} (a dependency of {}; fetch it first)",
                dep.image_name, parent.name
            ))
        })
    }

    /// Render an image with its dependencies, or return the tree already rendered.
    pub fn render_tree(&self, key: &str) -> Result<Tree, StoreError> {
        let order = self.render_order(key)?;
        let images: Vec<String> = order.iter().map(|(i, _)| i.key.clone()).collect();
        let id = tree_id(&images);
        let dir = self.tree_dir(&id);
        let _lock = self.lock("tree", &id, LockMode::Exclusive)?;
        let tree = Tree {
            id: id.clone(),
            dir: dir.clone(),
            images,
        };
        if dir.join("rendered").exists() {
            return Ok(tree);
        }
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(StoreError::io("removing incomplete tree", &dir))?;
        }
        let rootfs = dir.join("rootfs");
        fsutil::create_dir_all(&rootfs, DIR_MODE).map_err(StoreError::io("creating", &rootfs))?;
        // A half-written tree (out of space, a bad entry) goes at once rather than at the next
        // `Store::open`: it may be most of the free space.
        let record = match self.render_layers_recorded(key, &order, &rootfs) {
            Ok(record) => record,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        // The listing is built from what the render wrote (each file hashed as it streamed
        // past), not by reading the tree back; an inexact record (owners left to the kernel
        // when not root) falls back to walking the tree.
        let files = match record {
            Some(nodes) => listing_of(nodes.iter()),
            None => {
                listing(&rootfs, DigestAlgo::Blake3).map_err(StoreError::io("hashing", &rootfs))?
            }
        };
        let hash = format!("sha512-{}", hex::encode(Sha512::digest(files.as_bytes())));
        for (name, body) in [
            ("files", files.as_bytes()),
            ("hash", hash.as_bytes()),
            ("image", key.as_bytes()),
        ] {
            let path = dir.join(name);
            fsutil::write_atomic(&path, body, FILE_MODE)
                .map_err(StoreError::io("writing", &path))?;
        }
        // Everything above must be on disk before `rendered` is: a tree marked rendered is
        // used without a check. One syncfs flushes the whole tree in a single call; fsync of
        // each file written costs a journal commit per file, and marking the tree with the
        // boot ID and verifying it on first use after a reboot moves a full re-hash onto the
        // first `rkt run` after every boot. Measured on the 200 MB bench image (991 entries):
        // syncfs took 0.03-0.25 s of a 8-13 s root fetch, so it is not the cost to remove.
        let root = File::open(&dir).map_err(StoreError::io("opening", &dir))?;
        rustix::fs::syncfs(&root).map_err(|e| StoreError::Io {
            action: "syncing",
            path: dir.clone(),
            source: e.into(),
        })?;
        let marker = dir.join("rendered");
        fsutil::write_atomic(&marker, b"", FILE_MODE)
            .map_err(StoreError::io("writing", &marker))?;
        Ok(tree)
    }

    /// Render `order` (from [`Store::render_order`]) into an existing, empty `rootfs` directory.
    pub fn render_layers(
        &self,
        key: &str,
        order: &[PlannedImage],
        rootfs: &Path,
    ) -> Result<(), StoreError> {
        render(
            rootfs,
            self.layers(order, rootfs),
            ExtractOptions::default(),
        )
        .map(|_| ())
        .map_err(|e| render_err(key, e))
    }

    /// [`Store::render_layers`], returning every node written when the record is exact.
    fn render_layers_recorded(
        &self,
        key: &str,
        order: &[PlannedImage],
        rootfs: &Path,
    ) -> Result<Option<BTreeMap<PathBuf, Node>>, StoreError> {
        let (_, record) = render_recorded(
            rootfs,
            self.layers(order, rootfs),
            ExtractOptions::default(),
        )
        .map_err(|e| render_err(key, e))?;
        Ok(record.exact.then_some(record.nodes))
    }

    /// The layers of a render order, top image first, each streaming its stored blob.
    fn layers(&self, order: &[PlannedImage], rootfs: &Path) -> Vec<Layer<'static>> {
        order
            .iter()
            .rev()
            .map(|(info, whitelists)| {
                let store = self.clone();
                let key = info.key.clone();
                let name = format!("{} ({})", info.name, info.key);
                let walk_name = name.clone();
                let mut space = SpaceGuard::new(rootfs);
                Layer {
                    name,
                    whitelists: whitelists.clone(),
                    whiteouts: Vec::new(),
                    walk: Box::new(move |sink| {
                        let walk_err =
                            |e: Box<dyn std::error::Error + Send + Sync>| RenderError::Walk {
                                layer: walk_name.clone(),
                                source: e,
                            };
                        let blob = store.open_blob(&key).map_err(|e| walk_err(e.into()))?;
                        let opts = ReadOptions {
                            want_entries: true,
                            ..ReadOptions::default()
                        };
                        let reader = BufReader::with_capacity(256 * 1024, blob);
                        read_archive(reader, &opts, |h, data| {
                            space.charge(h.size).map_err(SinkError::Space)?;
                            sink(h, data).map_err(SinkError::Render)
                        })
                        .map_err(|e| match e {
                            SinkError::Render(r) => r,
                            SinkError::Archive(a) => walk_err(a.into()),
                            SinkError::Space(s) => walk_err(s.into()),
                        })?;
                        Ok(())
                    }),
                }
            })
            .collect()
    }

    /// Re-hash a rendered tree and report every node that changed, appeared or disappeared.
    pub fn verify_tree(&self, id: &str) -> Result<Vec<Mismatch>, StoreError> {
        let dir = self.tree_dir(id);
        let recorded = fs::read_to_string(dir.join("files"))
            .map_err(StoreError::io("reading", &dir.join("files")))?;
        // Re-hash with the algorithm the listing was written with: trees listed by older
        // versions (SHA-512) still verify.
        let algo = listing_algo(&recorded);
        let current =
            listing(&dir.join("rootfs"), algo).map_err(StoreError::io("hashing", &dir))?;
        Ok(compare_listings(&recorded, &current))
    }

    /// Every complete tree with the image it was rendered for.
    pub fn trees(&self) -> Result<Vec<(String, String)>, StoreError> {
        let base = self.cas.join("tree");
        let mut out = Vec::new();
        for entry in fs::read_dir(&base)
            .map_err(StoreError::io("reading", &base))?
            .flatten()
        {
            let dir = entry.path();
            if !dir.join("rendered").exists() {
                continue;
            }
            let image = fs::read_to_string(dir.join("image")).unwrap_or_default();
            out.push((entry.file_name().to_string_lossy().into_owned(), image));
        }
        out.sort();
        Ok(out)
    }

    /// Remove a tree: the marker goes first, so a crash leaves an incomplete tree for cleanup.
    pub fn remove_tree(&self, id: &str) -> Result<(), StoreError> {
        let _lock = self.lock("tree", id, LockMode::Exclusive)?;
        let dir = self.tree_dir(id);
        let _ = fs::remove_file(dir.join("rendered"));
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::Io {
                action: "removing",
                path: dir,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Bytes used by a tree's rootfs.
    pub fn tree_size(&self, id: &str) -> u64 {
        du(&self.tree_dir(id).join("rootfs"))
    }
}

fn render_err(key: &str, e: RenderError) -> StoreError {
    StoreError::Render {
        key: key.to_string(),
        message: e.to_string(),
    }
}

/// The ways streaming a layer into the renderer fails: reading the archive, writing, or the
/// store's filesystem running low.
enum SinkError {
    Archive(aci::archive::ArchiveError),
    Render(RenderError),
    Space(SpaceError),
}

impl From<aci::archive::ArchiveError> for SinkError {
    fn from(e: aci::archive::ArchiveError) -> Self {
        SinkError::Archive(e)
    }
}

/// Remove trees that never got their `rendered` marker and whose lock is free.
pub(super) fn clean_incomplete(store: &Store) -> Result<(), StoreError> {
    let base = store.cas.join("tree");
    for entry in fs::read_dir(&base)
        .map_err(StoreError::io("reading", &base))?
        .flatten()
    {
        let dir = entry.path();
        if dir.join("rendered").exists() {
            continue;
        }
        let id = entry.file_name().to_string_lossy().into_owned();
        let Ok(_lock) =
            FileLock::try_lock(&store.locks.join("tree").join(&id), LockMode::Exclusive)
        else {
            continue;
        };
        let _ = fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// One line per node below `root`, sorted: path, mode, owner, and the type with its size and
/// content hash or link target. Never follows symlinks. `image verify` compares this against
/// the `files` written when the tree was rendered.
fn listing(root: &Path, algo: DigestAlgo) -> io::Result<String> {
    let mut nodes = Vec::new();
    walk(root, Path::new(""), algo, &mut nodes)?;
    Ok(listing_of(nodes.iter().map(|(p, n)| (p, n))))
}

/// The listing of a set of nodes: one line each (see [`line`]), sorted as strings.
fn listing_of<'a>(nodes: impl Iterator<Item = (&'a PathBuf, &'a Node)>) -> String {
    let mut lines: Vec<String> = nodes.map(|(path, node)| line(path, node)).collect();
    lines.sort();
    lines.concat()
}

/// One node's line: a rendered tree's recorded listing and a re-read one go through this same
/// function, so they can only differ where the disk differs.
fn line(path: &Path, node: &Node) -> String {
    let what = match &node.kind {
        NodeKind::Dir => "dir".to_string(),
        NodeKind::Symlink(target) => format!("link {}", target.display()),
        NodeKind::File { size, digest } => match digest {
            FileDigest::Blake3(d) => format!("file {size} {BLAKE3_TAG}{}", hex::encode(d)),
            // The format of older versions: unnamed, the first half of the SHA-512.
            FileDigest::Sha512(d) => format!("file {size} {}", hex::encode(&d[..32])),
        },
        NodeKind::Special { rdev } => format!("node {rdev:x}"),
    };
    format!(
        "{}\t{:o} {}:{} {what}\n",
        escape(path),
        node.mode,
        node.uid,
        node.gid
    )
}

/// Names the algorithm of a file line's digest; lines without a name are SHA-512 (older
/// versions).
const BLAKE3_TAG: &str = "blake3:";

/// The digest algorithm a listing's file lines use: BLAKE3 when named, else SHA-512.
fn listing_algo(listing: &str) -> DigestAlgo {
    let first_file = listing.lines().find_map(|l| {
        let mut fields = l.split_once('\t')?.1.split(' ');
        (fields.nth(2)? == "file").then(|| fields.nth(1))?
    });
    match first_file {
        Some(digest) if !digest.starts_with(BLAKE3_TAG) => DigestAlgo::Sha512,
        _ => DigestAlgo::Blake3,
    }
}

fn walk(
    root: &Path,
    rel: &Path,
    algo: DigestAlgo,
    out: &mut Vec<(PathBuf, Node)>,
) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))?.collect::<Result<Vec<_>, _>>()?;
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let path = rel.join(entry.file_name());
        let meta = fs::symlink_metadata(root.join(&path))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            NodeKind::Dir
        } else if ft.is_symlink() {
            NodeKind::Symlink(fs::read_link(root.join(&path))?)
        } else if ft.is_file() {
            NodeKind::File {
                size: meta.len(),
                digest: algo.digest_of(&mut File::open(root.join(&path))?)?,
            }
        } else {
            NodeKind::Special { rdev: meta.rdev() }
        };
        let node = Node {
            kind,
            mode: meta.permissions().mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        };
        out.push((path.clone(), node));
        if ft.is_dir() {
            walk(root, &path, algo, out)?;
        }
    }
    Ok(())
}

/// Paths are one field of a line: keep tabs and newlines in file names from breaking it.
fn escape(p: &Path) -> String {
    p.to_string_lossy()
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn compare_listings(recorded: &str, current: &str) -> Vec<Mismatch> {
    use std::collections::BTreeMap;
    let parse = |s: &str| -> BTreeMap<String, String> {
        s.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(p, r)| (p.to_string(), r.to_string()))
            .collect()
    };
    let (old, new) = (parse(recorded), parse(current));
    let mut out = Vec::new();
    for (path, was) in &old {
        match new.get(path) {
            None => out.push(Mismatch {
                path: path.clone(),
                problem: "missing".into(),
            }),
            Some(now) if now != was => out.push(Mismatch {
                path: path.clone(),
                problem: format!("changed: was {was}, now {now}"),
            }),
            _ => {}
        }
    }
    for path in new.keys().filter(|p| !old.contains_key(*p)) {
        out.push(Mismatch {
            path: path.clone(),
            problem: "added".into(),
        });
    }
    out
}

fn du(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    let children = fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| du(&e.path())).sum())
        .unwrap_or(0);
    own + children
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_ids_depend_on_the_whole_order() {
        let a = tree_id(&["sha512-aa".into(), "sha512-bb".into()]);
        let b = tree_id(&["sha512-bb".into(), "sha512-aa".into()]);
        assert_ne!(a, b);
        assert!(a.starts_with("deps-sha512-") && a.len() == "deps-sha512-".len() + 64);
    }

    #[test]
    fn listings_name_their_algorithm() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("f"), b"data").unwrap();
        let new = listing(tmp.path(), DigestAlgo::Blake3).unwrap();
        let want = format!("blake3:{}", blake3::hash(b"data").to_hex());
        assert!(new.contains(&want), "{new}");
        assert_eq!(listing_algo(&new), DigestAlgo::Blake3);
        // An older version's line: the first 32 bytes of the SHA-512, unnamed.
        let old = listing(tmp.path(), DigestAlgo::Sha512).unwrap();
        let sha = hex::encode(&Sha512::digest(b"data")[..32]);
        assert!(old.ends_with(&format!("file 4 {sha}\n")), "{old}");
        assert_eq!(listing_algo(&old), DigestAlgo::Sha512);
        assert_eq!(listing_algo("d\t755 0:0 dir\n"), DigestAlgo::Blake3);
    }

    #[test]
    fn listing_comparison_reports_each_change() {
        let old = "a\t644 0:0 file 1 x\nb\t755 0:0 dir\n";
        let new = "a\t644 0:0 file 1 y\nc\t644 0:0 file 0 z\n";
        let m = compare_listings(old, new);
        let paths: Vec<_> = m
            .iter()
            .map(|m| (m.path.as_str(), m.problem.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            paths,
            vec![("a", "changed"), ("b", "missing"), ("c", "added")]
        );
    }
}
