//! Extract an ACI's rootfs into a directory with the library's safe extractor and print the
//! image ID: the benchmark and profiling target for archive reading plus extraction.
//!
//! Usage: `cargo run --release -p aci --example extract -- IMAGE.aci DEST [--hash-only]`

use std::fs::File;
use std::io::BufReader;
use std::process::ExitCode;

use aci::archive::{ArchiveError, ReadOptions, read_archive};
use aci::extract::{ExtractError, ExtractOptions, Extractor};

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error("{0}")]
    Usage(&'static str),
    #[error("opening {0}: {1}")]
    Open(String, std::io::Error),
}

fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (image, dest) = match args.as_slice() {
        [image, dest, ..] => (image, dest),
        _ => return Err(Error::Usage("usage: extract IMAGE.aci DEST [--hash-only]")),
    };
    let hash_only = args.iter().any(|a| a == "--hash-only");
    let file = File::open(image).map_err(|e| Error::Open(image.clone(), e))?;
    let reader = BufReader::with_capacity(256 * 1024, file);
    let opts = ReadOptions {
        want_entries: !hash_only,
        ..ReadOptions::default()
    };
    let info = if hash_only {
        read_archive(reader, &opts, |_, _| Ok::<(), Error>(()))?
    } else {
        std::fs::create_dir_all(dest).map_err(|e| Error::Open(dest.clone(), e))?;
        let mut ex = Extractor::new(dest.as_ref(), ExtractOptions::default())?;
        let info = read_archive(reader, &opts, |h, data| {
            ex.apply(h, data)?;
            Ok::<(), Error>(())
        })?;
        ex.finish()?;
        info
    };
    println!(
        "{} ({} entries, {} bytes uncompressed)",
        info.image_id, info.entries, info.uncompressed_size
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("extract: {e}");
            ExitCode::FAILURE
        }
    }
}
