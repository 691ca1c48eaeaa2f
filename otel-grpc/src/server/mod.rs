//! The server middleware: [`GrpcServerLayer`], [`GrpcServerService`],
//! [`ServerResponseFuture`]; options in [`LayerBuilder`](crate::LayerBuilder).

mod future;
mod layer;
mod service;

pub use future::ServerResponseFuture;
pub(crate) use future::on_response;
pub use layer::GrpcServerLayer;
pub use service::GrpcServerService;
