//! berth-client: moving images between registries, OCI layouts and docker archives.
//!
//! So far: credentials from docker's `config.json` and credential helpers
//! ([`credentials`]), the token flow as real clients speak it ([`auth::Session`]), OCI image layouts ([`layout::Layout`], read and write, digests verified) and the
//! grammar of what users type: [`location::Location`] (a registry
//! reference, `oci:DIR[:TAG]` or `docker-archive:FILE[:REF]`) and [`reference::ImageRef`] with
//! Docker Hub normalisation as `docker` does it.
//!
//! Dependency rule: depends on `berth-core` only; never on the server side.
#![deny(missing_docs)]

pub mod archive;
pub mod auth;
pub mod copy;
pub mod credentials;
pub mod endpoint;
pub mod layout;
pub mod location;
pub mod reference;
pub mod registry;
