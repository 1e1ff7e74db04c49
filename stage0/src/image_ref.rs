//! What an image argument on the command line means, by rkt's rules (rkt.md §4):
//!
//! | form | meaning |
//! |---|---|
//! | `sha512-…` | an image in the store by ID prefix |
//! | no scheme and absolute, an existing file, containing `./`, or ending `.aci` | a file |
//! | `file://PATH` | a file |
//! | `http://…`, `https://…` | an archive URL |
//! | `docker://…`, `docker:…` | a Docker image |
//! | `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE` | an OCI/Docker image on disk |
//! | anything else | an appc name `name[:version][,label=value…]` |

use std::path::{Path, PathBuf};

use aci::discovery::{AppReference, DiscoveryError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An image ID prefix (`sha512-…`).
    Hash(String),
    Path(PathBuf),
    /// An `http://` or `https://` archive URL.
    Url(String),
    /// A `docker://` reference (without the scheme).
    Docker(String),
    /// `oci:DIR[:REF]`, `oci-archive:FILE[:REF]` or `docker-archive:FILE`.
    Oci(crate::oci::OciSource),
    Name(AppReference),
}

#[derive(Debug, thiserror::Error)]
pub enum ImageRefError {
    #[error("image {input:?}: {source}")]
    Name {
        input: String,
        source: Box<DiscoveryError>,
    },
    #[error("image {0:?}: empty image reference")]
    Empty(String),
}

impl ImageRef {
    pub fn parse(input: &str) -> Result<ImageRef, ImageRefError> {
        if input.trim().is_empty() {
            return Err(ImageRefError::Empty(input.to_string()));
        }
        if input.starts_with("sha512-") {
            return Ok(ImageRef::Hash(input.to_string()));
        }
        if let Some(path) = input.strip_prefix("file://") {
            return Ok(ImageRef::Path(PathBuf::from(path)));
        }
        if input.starts_with("http://") || input.starts_with("https://") {
            return Ok(ImageRef::Url(input.to_string()));
        }
        if let Some(rest) = input
            .strip_prefix("docker://")
            .or_else(|| input.strip_prefix("docker:"))
        {
            return Ok(ImageRef::Docker(rest.to_string()));
        }
        if let Some(source) = crate::oci::OciSource::parse_local(input) {
            return Ok(ImageRef::Oci(source));
        }
        if looks_like_path(input) {
            return Ok(ImageRef::Path(PathBuf::from(input)));
        }
        // Any other scheme (`foo://…`) is an appc name by rkt's rules: its name part is parsed.
        let name = input.split_once("://").map_or(input, |(_, rest)| rest);
        AppReference::parse(name)
            .map(ImageRef::Name)
            .map_err(|source| ImageRefError::Name {
                input: input.to_string(),
                source: Box::new(source),
            })
    }
}

fn looks_like_path(s: &str) -> bool {
    !s.contains("://")
        && (s.starts_with('/') || s.contains("./") || s.ends_with(".aci") || Path::new(s).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_rkt() {
        assert!(matches!(
            ImageRef::parse("sha512-abcd").unwrap(),
            ImageRef::Hash(_)
        ));
        assert!(matches!(
            ImageRef::parse("/tmp/x").unwrap(),
            ImageRef::Path(_)
        ));
        assert!(matches!(ImageRef::parse("./x").unwrap(), ImageRef::Path(_)));
        assert!(matches!(
            ImageRef::parse("img.aci").unwrap(),
            ImageRef::Path(_)
        ));
        assert_eq!(
            ImageRef::parse("file:///a/b.aci").unwrap(),
            ImageRef::Path("/a/b.aci".into())
        );
        assert!(matches!(
            ImageRef::parse("https://a.com/x.aci").unwrap(),
            ImageRef::Url(_)
        ));
        assert_eq!(
            ImageRef::parse("docker://busybox").unwrap(),
            ImageRef::Docker("busybox".into())
        );
        assert_eq!(
            ImageRef::parse("docker:busybox").unwrap(),
            ImageRef::Docker("busybox".into())
        );
        match ImageRef::parse("example.com/app:1.0,os=linux").unwrap() {
            ImageRef::Name(r) => {
                assert_eq!(r.name().as_str(), "example.com/app");
                assert_eq!(r.version(), Some("1.0"));
            }
            other => panic!("{other:?}"),
        }
        assert!(ImageRef::parse("").is_err());
        assert!(ImageRef::parse("Not A Name").is_err());
    }
}
