//! Where images come from and go to: a registry, an OCI image layout, or a docker archive,
//! written as skopeo writes them.

use crate::reference::{ImageRef, RefError};
use std::fmt;
use std::path::PathBuf;

/// A source or destination of `berth copy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `docker://REF`, or a bare reference.
    Registry(ImageRef),
    /// `oci:DIR[:TAG]`: an OCI image layout.
    OciLayout {
        /// The layout directory.
        dir: PathBuf,
        /// The `org.opencontainers.image.ref.name` to read or write, if any.
        tag: Option<String>,
    },
    /// `docker-archive:FILE[:REF]`: the `docker save` format.
    DockerArchive {
        /// The tar file.
        file: PathBuf,
        /// The image reference inside the archive, if any.
        reference: Option<String>,
    },
}

/// Why a location was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// A transport prefix Berth does not know.
    #[error("unknown transport {0:?}: use docker://, oci: or docker-archive:")]
    Transport(String),
    /// A path part is empty.
    #[error("{0}: the path is empty")]
    EmptyPath(&'static str),
    /// The registry reference is invalid.
    #[error(transparent)]
    Reference(#[from] RefError),
}

/// Splits `PATH[:SUFFIX]` at the last `:` when what follows contains no `/` (so a path with a
/// `:` inside a directory name still reads as a path).
fn path_and_suffix(s: &str) -> (PathBuf, Option<String>) {
    match s.rsplit_once(':') {
        Some((path, suffix)) if !path.is_empty() && !suffix.contains('/') && !suffix.is_empty() => {
            (PathBuf::from(path), Some(suffix.to_owned()))
        }
        _ => (PathBuf::from(s), None),
    }
}

impl Location {
    /// Parses `docker://REF`, `oci:DIR[:TAG]`, `docker-archive:FILE[:REF]` or a bare reference.
    pub fn parse(s: &str) -> Result<Self, LocationError> {
        if let Some(r) = s.strip_prefix("docker://") {
            return Ok(Location::Registry(ImageRef::parse(r)?));
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = path_and_suffix(rest);
            if dir.as_os_str().is_empty() {
                return Err(LocationError::EmptyPath("oci:"));
            }
            return Ok(Location::OciLayout { dir, tag });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            // The reference inside an archive may itself hold a ':' (a tag), so only a
            // suffix after the first ':' that follows the file name is taken.
            let (file, reference) = match rest.split_once(':') {
                Some((f, r)) if !f.is_empty() && !r.is_empty() => (PathBuf::from(f), Some(r.to_owned())),
                _ => (PathBuf::from(rest), None),
            };
            if file.as_os_str().is_empty() {
                return Err(LocationError::EmptyPath("docker-archive:"));
            }
            return Ok(Location::DockerArchive { file, reference });
        }
        if let Some((transport, _)) = s.split_once("://") {
            return Err(LocationError::Transport(transport.to_owned()));
        }
        if let Some((transport, _)) = s.split_once(':')
            && matches!(transport, "dir" | "containers-storage" | "docker-daemon" | "oci-archive")
        {
            return Err(LocationError::Transport(transport.to_owned()));
        }
        Ok(Location::Registry(ImageRef::parse(s)?))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Registry(r) => write!(f, "docker://{r}"),
            Location::OciLayout { dir, tag } => {
                write!(f, "oci:{}", dir.display())?;
                tag.as_ref().map_or(Ok(()), |t| write!(f, ":{t}"))
            }
            Location::DockerArchive { file, reference } => {
                write!(f, "docker-archive:{}", file.display())?;
                reference.as_ref().map_or(Ok(()), |r| write!(f, ":{r}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports() {
        let oci = Location::parse("oci:/tmp/layout:v1").unwrap();
        assert_eq!(oci, Location::OciLayout { dir: "/tmp/layout".into(), tag: Some("v1".into()) });
        assert_eq!(Location::parse("oci:./out").unwrap(), Location::OciLayout { dir: "./out".into(), tag: None });
        let archive = Location::parse("docker-archive:img.tar:team/app:v1").unwrap();
        assert_eq!(archive, Location::DockerArchive { file: "img.tar".into(), reference: Some("team/app:v1".into()) });
        assert!(matches!(Location::parse("docker://127.0.0.1:5000/a:v1").unwrap(), Location::Registry(_)));
        assert_eq!(Location::parse("127.0.0.1:5000/a:v1").unwrap().to_string(), "docker://127.0.0.1:5000/a:v1");
        assert_eq!(Location::parse("ftp://x/y"), Err(LocationError::Transport("ftp".into())));
        assert_eq!(Location::parse("dir:/tmp/x"), Err(LocationError::Transport("dir".into())));
        assert_eq!(Location::parse("oci:"), Err(LocationError::EmptyPath("oci:")));
        for s in
            ["oci:/tmp/layout:v1", "docker-archive:img.tar:team/app:v1", "docker://docker.io/library/ubuntu:latest"]
        {
            assert_eq!(Location::parse(s).unwrap().to_string(), s);
        }
    }
}
