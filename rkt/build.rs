//! Embeds the default stage1 image when `RKT_STAGE1_ACI` names one (the Makefile sets it to
//! `target/stage1/stage1.aci`): the file is copied into OUT_DIR, its image ID (SHA-512 of the
//! uncompressed tar, in the store's key form) computed here, and `stage1_embedded.rs` written
//! for `src/stage1_image.rs` to include. Without the variable the binary embeds nothing.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha512};

fn main() {
    println!("cargo:rerun-if-env-changed=RKT_STAGE1_ACI");
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let generated = out_dir.join("stage1_embedded.rs");
    let code = match std::env::var_os("RKT_STAGE1_ACI").filter(|v| !v.is_empty()) {
        None => "None".to_string(),
        Some(aci) => {
            let aci = PathBuf::from(aci);
            println!("cargo:rerun-if-changed={}", aci.display());
            // Copy first, then hash the copy: what is embedded is exactly what was hashed.
            let copy = out_dir.join("stage1.aci");
            if let Err(e) = std::fs::copy(&aci, &copy) {
                fail(&format!("reading RKT_STAGE1_ACI={}: {e}", aci.display()));
            }
            let id = image_key(&copy);
            format!(
                "Some(EmbeddedStage1 {{ bytes: include_bytes!({:?}), id: {:?} }})",
                copy.display().to_string(),
                id
            )
        }
    };
    if let Err(e) = std::fs::write(&generated, code) {
        fail(&format!("writing {}: {e}", generated.display()));
    }
}

/// `sha512-` + the first 64 hex digits of the SHA-512 of the uncompressed tar.
fn image_key(path: &Path) -> String {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| fail(&format!("reading {}: {e}", path.display())));
    let mut hasher = Sha512::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut gz = flate2::read::MultiGzDecoder::new(&bytes[..]);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match gz.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) => fail(&format!(
                    "decompressing the stage1 image {}: {e}",
                    path.display()
                )),
            }
        }
    } else {
        hasher.update(&bytes);
    }
    format!("sha512-{}", &hex::encode(hasher.finalize())[..64])
}

fn fail(msg: &str) -> ! {
    eprintln!(
        "rkt build: {msg} (RKT_STAGE1_ACI must name a stage1 ACI, e.g. built by `make stage1`)"
    );
    std::process::exit(1);
}
