//! Where an OCI or Docker image comes from: `docker://` references (rkt.md §4) and the local
//! sources `oci:DIR[:REF]`, `oci-archive:FILE[:REF]` and `docker-archive:FILE`.

use std::fmt;
use std::path::PathBuf;

/// rkt's default registry for names without one (Docker Hub's registry endpoint).
pub const DEFAULT_REGISTRY: &str = "registry-1.docker.io";
const DEFAULT_TAG: &str = "latest";

/// A parsed `docker://[REGISTRY[:PORT]/]NAME[:TAG|@DIGEST]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerRef {
    pub registry: String,
    /// The repository path, with `library/` added for one-component names on the default
    /// registry.
    pub repository: String,
    pub tag: String,
    /// `sha256:<hex>` when the reference pins a digest.
    pub digest: Option<String>,
}

impl DockerRef {
    pub fn parse(input: &str) -> Result<DockerRef, String> {
        let s = input.trim_start_matches('/');
        if s.is_empty() {
            return Err("empty Docker image reference".into());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                check_digest(d)?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A ':' after the last '/' is the tag; one before it is a registry port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), path.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        if !valid_repo {
            return Err(format!(
                "{input:?}: repository {repository:?} must be lowercase letters, digits, '.', '_', \
                 '-' separated by '/'"
            ));
        }
        let tag = tag.unwrap_or(DEFAULT_TAG);
        if tag.is_empty()
            || tag.len() > 128
            || !tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!("{input:?}: tag {tag:?} is not a valid tag"));
        }
        Ok(DockerRef {
            registry,
            repository,
            tag: tag.to_string(),
            digest,
        })
    }

    /// What the registry's manifest endpoint is asked for: the digest, else the tag.
    pub fn reference(&self) -> &str {
        self.digest.as_deref().unwrap_or(&self.tag)
    }
}

impl fmt::Display for DockerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match &self.digest {
            Some(d) => write!(f, "@{d}"),
            None => write!(f, ":{}", self.tag),
        }
    }
}

/// `sha256:` + 64 lowercase hex digits (the only algorithm registries use).
pub fn check_digest(d: &str) -> Result<(), String> {
    match d.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{d:?} is not a sha256 digest (sha256:<64 hex digits>)"
        )),
    }
}

/// An image source of the OCI family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciSource {
    Registry(DockerRef),
    /// An OCI image layout directory and the `org.opencontainers.image.ref.name` to pick.
    Layout {
        dir: PathBuf,
        reference: Option<String>,
    },
    /// A tar of an OCI image layout.
    Archive {
        file: PathBuf,
        reference: Option<String>,
    },
    /// A `docker save` tarball.
    DockerArchive {
        file: PathBuf,
    },
}

impl OciSource {
    /// Recognise the local schemes; None when `input` is not one of them.
    pub fn parse_local(input: &str) -> Option<OciSource> {
        let split = |rest: &str| match rest.rsplit_once(':') {
            // A ':' in a path is allowed when what follows has a '/' (it is then the path's).
            Some((p, r)) if !r.contains('/') && !p.is_empty() => {
                (PathBuf::from(p), Some(r.to_string()))
            }
            _ => (PathBuf::from(rest), None),
        };
        if let Some(rest) = input.strip_prefix("oci:") {
            let (dir, reference) = split(rest);
            return Some(OciSource::Layout { dir, reference });
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (file, reference) = split(rest);
            return Some(OciSource::Archive { file, reference });
        }
        input
            .strip_prefix("docker-archive:")
            .map(|f| OciSource::DockerArchive {
                file: PathBuf::from(f),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DockerRef {
        DockerRef::parse(s).unwrap()
    }

    #[test]
    fn docker_defaults_like_rkt() {
        let r = p("busybox");
        assert_eq!(r.registry, DEFAULT_REGISTRY);
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.tag, "latest");
        assert_eq!(p("user/app:1.2").repository, "user/app");
        assert_eq!(p("user/app:1.2").tag, "1.2");
        let r = p("127.0.0.1:5000/a/b:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "a/b")
        );
        assert_eq!(r.tag, "v1");
        let r = p("localhost/x");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "x")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = p(&format!("example.com:443/x@{d}"));
        assert_eq!(r.reference(), d);
        assert_eq!(r.to_string(), format!("example.com:443/x@{d}"));
        assert!(DockerRef::parse("Upper/case").is_err());
        assert!(DockerRef::parse("x@sha256:12").is_err());
        assert!(DockerRef::parse("").is_err());
        assert!(DockerRef::parse("a:b:c").is_err());
    }

    #[test]
    fn local_sources() {
        assert_eq!(
            OciSource::parse_local("oci:/tmp/lay:v1"),
            Some(OciSource::Layout {
                dir: "/tmp/lay".into(),
                reference: Some("v1".into())
            })
        );
        assert_eq!(
            OciSource::parse_local("oci:/tmp/lay"),
            Some(OciSource::Layout {
                dir: "/tmp/lay".into(),
                reference: None
            })
        );
        assert_eq!(
            OciSource::parse_local("oci-archive:x.tar"),
            Some(OciSource::Archive {
                file: "x.tar".into(),
                reference: None
            })
        );
        assert_eq!(
            OciSource::parse_local("docker-archive:/a/b.tar"),
            Some(OciSource::DockerArchive {
                file: "/a/b.tar".into()
            })
        );
        assert_eq!(OciSource::parse_local("docker://x"), None);
    }
}
