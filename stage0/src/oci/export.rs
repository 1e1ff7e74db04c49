//! `rkt image export` of an OCI image: its layer trees merged bottom up (whiteouts and opaque
//! directories applied, nothing of them emitted) into one ACI with the derived manifest, minus
//! the annotations that tie it to layers (the export is a self-contained ACI).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::{OciError, convert};
use crate::store::Store;

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> OciError {
    let path = path.to_path_buf();
    move |source| OciError::Io {
        action,
        path,
        source,
    }
}

/// Write the image `key` (an OCI image) as an uncompressed ACI to `out`.
pub fn export(store: &Store, key: &str, out: &Path) -> Result<(), OciError> {
    let mut manifest = store.manifest(key)?;
    let Some(stack) = super::layer_stack(store, &manifest, crate::fetch::STORED_IMAGE_LIMIT)?
    else {
        return Err(OciError::Config(format!("image {key} is not an OCI image")));
    };
    let tmp = super::local::TmpDir::new(store)?;
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir(&rootfs).map_err(io_err("creating", &rootfs))?;
    for id in stack.iter().rev() {
        let layer = store.cas_dir().join("tree").join(id).join("rootfs");
        merge_dir(&layer, &rootfs)?;
    }
    let kept: Vec<_> = manifest
        .annotations
        .iter()
        .filter(|a| {
            let n = a.name.as_str();
            n != convert::LAYERS_ANNOTATION && n != convert::BLOBS_ANNOTATION
        })
        .cloned()
        .collect();
    manifest.annotations =
        aci::manifest::Annotations::new(kept).map_err(|e| OciError::Config(e.to_string()))?;
    let json = manifest
        .to_vec()
        .map_err(|e| OciError::Config(e.to_string()))?;
    let file = fs::File::create(out).map_err(io_err("creating", out))?;
    aci::archive::write_aci(
        &json,
        &rootfs,
        io::BufWriter::new(file),
        aci::archive::Compression::None,
    )
    .map_err(|e| OciError::Config(format!("writing {}: {e}", out.display())))?;
    Ok(())
}

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    let mut v = [0u8; 1];
    matches!(rustix::fs::lgetxattr(dir, "trusted.overlay.opaque", &mut v), Ok(1) if v[0] == b'y')
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Apply one layer directory `src` onto the merged `dst` (an existing real directory).
fn merge_dir(src: &Path, dst: &Path) -> Result<(), OciError> {
    for entry in fs::read_dir(src).map_err(io_err("reading", src))? {
        let entry = entry.map_err(io_err("reading", src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(io_err("stat", &from))?;
        if is_whiteout(&meta) {
            remove_any(&to).map_err(io_err("removing", &to))?;
            continue;
        }
        let existing = fs::symlink_metadata(&to).ok();
        if meta.is_dir() {
            let keep = existing.as_ref().is_some_and(|m| m.is_dir()) && !is_opaque(&from);
            if !keep {
                remove_any(&to).map_err(io_err("removing", &to))?;
                fs::create_dir(&to).map_err(io_err("creating", &to))?;
            }
            merge_dir(&from, &to)?;
        } else {
            if existing.is_some() {
                remove_any(&to).map_err(io_err("removing", &to))?;
            }
            copy_node(&from, &to, &meta)?;
        }
        set_meta(&to, &meta)?;
    }
    Ok(())
}

fn copy_node(from: &Path, to: &Path, meta: &fs::Metadata) -> Result<(), OciError> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(from).map_err(io_err("reading", from))?;
        std::os::unix::fs::symlink(target, to).map_err(io_err("creating", to))
    } else if ft.is_file() {
        fs::copy(from, to)
            .map(drop)
            .map_err(io_err("copying to", to))
    } else {
        let kind = if ft.is_char_device() {
            rustix::fs::FileType::CharacterDevice
        } else if ft.is_block_device() {
            rustix::fs::FileType::BlockDevice
        } else if ft.is_fifo() {
            rustix::fs::FileType::Fifo
        } else {
            return Ok(()); // sockets cannot be archived
        };
        rustix::fs::mknodat(
            rustix::fs::CWD,
            to,
            kind,
            rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777),
            meta.rdev(),
        )
        .map_err(|e| io_err("creating", to)(e.into()))
    }
}

fn set_meta(to: &Path, meta: &fs::Metadata) -> Result<(), OciError> {
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(io_err("chown", to))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io_err("chmod", to))?;
    }
    Ok(())
}
