//! Decompression bombs for the size-limit tests, written streaming: a few MB of gzip that
//! unpack to GiBs of zeros, never held in memory. The gzip stream is one small member for the
//! archive's head, the same member of 16 MiB of zeros repeated, and one for the end (a
//! multi-member gzip, which every gzip reader reads to its end, like `gzip -d`).
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
const CHUNK: u64 = 16 * MIB;

/// A ustar header for a file (`size` bytes) or a directory.
pub fn header(path: &str, size: u64, dir: bool) -> [u8; 512] {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).expect("tar path");
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    *h.as_bytes()
}

/// A file entry with its data padded to 512 bytes.
pub fn file_entry(path: &str, data: &[u8]) -> Vec<u8> {
    let mut out = header(path, data.len() as u64, false).to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn member(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

/// Write `head` (tar bytes), then a file entry `big` of `size` zeros (a multiple of 512), then
/// the end of the archive, gzip-compressed, to `out`. Returns the compressed size.
pub fn write_bomb(out: &Path, head: &[u8], big: &str, size: u64) -> u64 {
    assert_eq!(size % CHUNK, 0, "bomb sizes are whole chunks");
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).expect("creating the bomb"));
    let mut first = head.to_vec();
    first.extend_from_slice(&header(big, size, false));
    f.write_all(&member(&first)).expect("writing the bomb");
    let zeros = member(&vec![0u8; CHUNK as usize]);
    for _ in 0..size / CHUNK {
        f.write_all(&zeros).expect("writing the bomb");
    }
    f.write_all(&member(&[0u8; 1024]))
        .expect("writing the bomb");
    f.flush().expect("writing the bomb");
    drop(f);
    std::fs::metadata(out).expect("the bomb").len()
}

/// An ACI bomb: a valid manifest, `rootfs/`, and `rootfs/zeros` of `size` bytes.
pub fn write_aci_bomb(out: &Path, name: &str, size: u64) -> u64 {
    let manifest = format!(
        r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"{name}","labels":[{{"name":"os","value":"linux"}},{{"name":"arch","value":"amd64"}}]}}"#
    );
    let mut head = file_entry("manifest", manifest.as_bytes());
    head.extend_from_slice(&header("rootfs", 0, true));
    write_bomb(out, &head, "rootfs/zeros", size)
}

/// The diff ID (`sha256:` of the uncompressed tar) of a layer bomb, hashed streaming.
fn layer_bomb_diff_id(size: u64) -> String {
    let mut h = Sha256::new();
    h.update(header("zeros", size, false));
    let zeros = vec![0u8; CHUNK as usize];
    for _ in 0..size / CHUNK {
        h.update(&zeros);
    }
    h.update([0u8; 1024]);
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn sha_file(path: &Path) -> String {
    let mut h = Sha256::new();
    h.update(std::fs::read(path).expect("reading a blob"));
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// An OCI image layout at `dir` (tag `v1`) whose one layer is a bomb: a file `zeros` of `size`
/// bytes. The config's diff ID is the layer's true one.
pub fn write_oci_bomb(dir: &Path, size: u64) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dirs");
    let tmp = dir.join("layer.tmp");
    let layer_size = write_bomb(&tmp, &[], "zeros", size);
    let layer_digest = sha_file(&tmp);
    std::fs::rename(&tmp, blobs.join(&layer_digest[7..])).expect("storing the layer");
    let put = |data: &[u8]| {
        let d = format!("sha256:{}", hex::encode(Sha256::digest(data)));
        std::fs::write(blobs.join(&d[7..]), data).expect("writing a blob");
        (d, data.len())
    };
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/zeros"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_bomb_diff_id(size)]},
    });
    let (cd, cn) = put(&serde_json::to_vec(&config).expect("json"));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": layer_size}],
    });
    let (md, mn) = put(&serde_json::to_vec(&manifest).expect("json"));
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("index");
}

/// Every file (not directory) below `dir`, as paths relative to it.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Maximum resident set size (KiB) from `/usr/bin/time -v`'s report on stderr.
pub fn max_rss_kib(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no max RSS in /usr/bin/time output: {stderr}"))
}
