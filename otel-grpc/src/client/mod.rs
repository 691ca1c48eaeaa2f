//! The client middleware: [`GrpcClientLayer`], [`GrpcClientService`],
//! [`ClientResponseFuture`]; options in [`LayerBuilder`](crate::LayerBuilder).

mod future;
mod layer;
mod service;

pub use future::ClientResponseFuture;
pub use layer::GrpcClientLayer;
pub use service::GrpcClientService;
