//! Loopback servers and clients for the integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_core::testing::Capture;
use otel_kit_grpc::{
    ClientSide, GrpcClientLayer, GrpcClientService, GrpcServerLayer, LayerBuilder, ServerSide,
};
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status, Streaming};
use tower::ServiceBuilder;

#[allow(clippy::all, missing_docs)]
pub mod echo {
    include!("../proto/echo.rs");
}

pub use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
pub use echo::{EchoReply, EchoRequest};

pub type Client = EchoClient<GrpcClientService<Channel>>;

pub const UNARY: &str = "otel.test.v1.Echo/Unary";
pub const CLIENT_STREAM: &str = "otel.test.v1.Echo/ClientStream";
pub const SERVER_STREAM: &str = "otel.test.v1.Echo/ServerStream";
pub const BIDI: &str = "otel.test.v1.Echo/Bidi";

/// `trace_id:span_id` of the current context, as the handler sees it.
fn current_ids() -> String {
    let cx = Context::current();
    let span = cx.span();
    let sc = span.span_context();
    format!("{}:{}", sc.trace_id(), sc.span_id())
}

fn fail(code: i32) -> Result<(), Status> {
    if code == 0 {
        Ok(())
    } else {
        Err(Status::new(Code::from_i32(code), "failing on purpose"))
    }
}

#[derive(Default)]
struct EchoImpl;

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for EchoImpl {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let ids = current_ids();
        let req = request.into_inner();
        if req.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(req.delay_ms)).await;
        }
        fail(req.code)?;
        let mut response = Response::new(EchoReply {
            message: req.message,
            trace_id: ids,
        });
        response
            .metadata_mut()
            .insert("x-served-by", "echo".parse().unwrap());
        Ok(response)
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut stream = request.into_inner();
        let mut messages = Vec::new();
        while let Some(req) = stream.message().await? {
            fail(req.code)?;
            messages.push(req.message);
        }
        Ok(Response::new(EchoReply {
            message: messages.join(","),
            trace_id: current_ids(),
        }))
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let req = request.into_inner();
        let stream = futures_util::stream::unfold(0u32, move |i| {
            let req = req.clone();
            async move {
                if i < req.count {
                    if req.delay_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(req.delay_ms)).await;
                    }
                    // Polled by the server's body: the span is current here too.
                    let reply = EchoReply {
                        message: format!("{}-{i}", req.message),
                        trace_id: current_ids(),
                    };
                    Some((Ok(reply), i + 1))
                } else if i == req.count && req.code != 0 {
                    Some((fail(req.code).map(|_| EchoReply::default()), i + 1))
                } else {
                    None
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    type BidiStream = ReplyStream;

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let stream = request.into_inner().map(|req| {
            let req = req?;
            fail(req.code)?;
            Ok(EchoReply {
                message: req.message,
                trace_id: current_ids(),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

pub fn server_builder(capture: &Capture) -> LayerBuilder<ServerSide> {
    GrpcServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .semconv_dup(false)
}

pub fn client_builder(capture: &Capture, addr: SocketAddr) -> LayerBuilder<ClientSide> {
    GrpcClientLayer::builder()
        .target(&format!("http://{addr}"))
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .semconv_dup(false)
}

/// Starts the echo server on 127.0.0.1, port 0, behind `layer`.
pub async fn serve(layer: GrpcServerLayer) -> SocketAddr {
    serve_on(Server::builder(), layer).await
}

/// [`serve`] over TLS.
pub async fn serve_tls(
    layer: GrpcServerLayer,
    tls: tonic::transport::ServerTlsConfig,
) -> SocketAddr {
    serve_on(Server::builder().tls_config(tls).unwrap(), layer).await
}

async fn serve_on(server: Server, layer: GrpcServerLayer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(async move {
        server
            .layer(layer)
            .add_service(EchoServer::new(EchoImpl))
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    addr
}

pub async fn connect(addr: SocketAddr, layer: GrpcClientLayer) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    EchoClient::new(ServiceBuilder::new().layer(layer).service(channel))
}

/// A server and a client with default test options, both on `capture`.
pub async fn pair(capture: &Capture) -> (SocketAddr, Client) {
    let addr = serve(server_builder(capture).build()).await;
    let client = connect(addr, client_builder(capture, addr).build()).await;
    (addr, client)
}

pub fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..Default::default()
    }
}
