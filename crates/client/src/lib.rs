//! berth-client: moving images between registries, OCI layouts and docker archives.
//!
//! What users type: [`location::Location`] (a registry reference, `oci:DIR[:TAG]` or
//! `docker-archive:FILE[:REF]`) and [`reference::ImageRef`] with Docker Hub normalisation as
//! `docker` does it. Credentials from docker's `config.json` and credential helpers
//! ([`credentials`]); the token flow as real clients speak it ([`auth::Session`]), and the
//! federated exchange of an OIDC token for a refresh token ([`federated`]); which
//! scheme a registry speaks ([`endpoint`]); one repository over the distribution API
//! ([`registry::Repository`]: streamed, verified, resumable), and the one reader of its
//! error bodies ([`oci_error`]); OCI layouts ([`layout`]) and
//! docker archives ([`archive`]); [`copy::copy`] between any two of them; and the
//! pull-through cache's upstream over HTTP ([`upstream::HttpConnector`]).
//!
//! Dependency rule: depends on `berth-core` only; never on the server side.
#![deny(missing_docs)]

pub mod archive;
pub mod auth;
pub mod copy;
pub mod credentials;
pub mod endpoint;
pub mod federated;
pub mod layout;
pub mod location;
pub mod oci_error;
pub mod oidc;
pub mod reference;
pub mod registry;
pub mod upstream;
