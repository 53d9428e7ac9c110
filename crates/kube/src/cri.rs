//! A client of a container runtime's CRI `ImageService` (`runtime.v1`), the two calls the
//! kubelet makes to pull: `ImageStatus`, then `PullImage` with an `AuthConfig`.
//!
//! The messages are the subset of `k8s-cri`'s `proto/v1.proto` these calls need, written with
//! prost's derives (field numbers as in the proto): generating them would need `protoc` at
//! build time, which `cargo build` on a fresh machine does not have.

use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::path::PathBuf;
use tonic::transport::{Channel, Endpoint, Uri};

/// `runtime.v1.ImageSpec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageSpec {
    /// The image reference.
    #[prost(string, tag = "1")]
    pub image: String,
    /// Annotations.
    #[prost(map = "string, string", tag = "2")]
    pub annotations: HashMap<String, String>,
    /// The image as the user wrote it.
    #[prost(string, tag = "18")]
    pub user_specified_image: String,
}

/// `runtime.v1.AuthConfig`: the kubelet fills username and password only.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthConfig {
    /// Username.
    #[prost(string, tag = "1")]
    pub username: String,
    /// Password.
    #[prost(string, tag = "2")]
    pub password: String,
}

/// `runtime.v1.PullImageRequest` (without the sandbox config, which image pulls ignore).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PullImageRequest {
    /// What to pull.
    #[prost(message, optional, tag = "1")]
    pub image: Option<ImageSpec>,
    /// Credentials.
    #[prost(message, optional, tag = "2")]
    pub auth: Option<AuthConfig>,
}

/// `runtime.v1.PullImageResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PullImageResponse {
    /// The image's ID (`sha256:` of its config) or digest reference.
    #[prost(string, tag = "1")]
    pub image_ref: String,
}

/// `runtime.v1.ImageStatusRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageStatusRequest {
    /// The image asked about.
    #[prost(message, optional, tag = "1")]
    pub image: Option<ImageSpec>,
    /// Ask for extra information.
    #[prost(bool, tag = "2")]
    pub verbose: bool,
}

/// `runtime.v1.Image` (the fields Berth reads).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    /// ID.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Tags.
    #[prost(string, repeated, tag = "2")]
    pub repo_tags: Vec<String>,
    /// Digests.
    #[prost(string, repeated, tag = "3")]
    pub repo_digests: Vec<String>,
    /// Size in bytes.
    #[prost(uint64, tag = "4")]
    pub size: u64,
}

/// `runtime.v1.ImageStatusResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageStatusResponse {
    /// The image, absent when the runtime does not have it.
    #[prost(message, optional, tag = "1")]
    pub image: Option<Image>,
}

/// A connection to a runtime's image service.
#[derive(Clone)]
pub struct ImageService {
    grpc: tonic::client::Grpc<Channel>,
}

/// Why a CRI call failed.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// The endpoint is not `unix:///PATH`.
    #[error("the runtime endpoint {0:?} is not unix:///PATH")]
    Endpoint(String),
    /// Connecting failed.
    #[error("cannot connect to the runtime at {0}: {1}")]
    Connect(String, String),
    /// The runtime answered with an error status.
    #[error("{}", .0.message())]
    Status(#[from] tonic::Status),
}

impl ImageService {
    /// Connects to `unix:///PATH` (the kubelet's `--container-runtime-endpoint` form).
    pub async fn connect(endpoint: &str) -> Result<Self, CriError> {
        let path =
            PathBuf::from(endpoint.strip_prefix("unix://").ok_or_else(|| CriError::Endpoint(endpoint.to_owned()))?);
        let shown = endpoint.to_owned();
        // The URI is a placeholder: every connection goes to the socket.
        let channel = Endpoint::from_static("http://cri.invalid")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
            }))
            .await
            .map_err(|e| {
                CriError::Connect(
                    shown,
                    format!("{e}: {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default()),
                )
            })?;
        Ok(ImageService { grpc: tonic::client::Grpc::new(channel) })
    }

    async fn unary<Req, Resp>(&mut self, path: &'static str, req: Req) -> Result<Resp, CriError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let path = http::uri::PathAndQuery::from_static(path);
        Ok(self.grpc.unary(tonic::Request::new(req), path, codec).await?.into_inner())
    }

    /// `ImageStatus`: the image when the runtime holds it.
    pub async fn image_status(&mut self, image: &str) -> Result<Option<Image>, CriError> {
        let req = ImageStatusRequest { image: Some(spec(image)), verbose: false };
        let resp: ImageStatusResponse = self.unary("/runtime.v1.ImageService/ImageStatus", req).await?;
        Ok(resp.image.filter(|i| !i.id.is_empty()))
    }

    /// `PullImage` with `auth` (none for an anonymous pull); the image reference it returns.
    pub async fn pull_image(&mut self, image: &str, auth: Option<AuthConfig>) -> Result<String, CriError> {
        let req = PullImageRequest { image: Some(spec(image)), auth };
        let resp: PullImageResponse = self.unary("/runtime.v1.ImageService/PullImage", req).await?;
        Ok(resp.image_ref)
    }
}

fn spec(image: &str) -> ImageSpec {
    ImageSpec { image: image.to_owned(), annotations: HashMap::new(), user_specified_image: image.to_owned() }
}
