//! Calls a URL with the traced reqwest client and prints the status: one
//! CLIENT span, the trace context sent with the request.
//!
//! ```text
//! cargo run -p otel-examples --bin http-client -- http://127.0.0.1:3000/users/7
//! ```

use otel_kit_http::client::TracingMiddleware;
use reqwest_middleware::ClientBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).ok_or("usage: http-client <url>")?;
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("http-client")
        .console_when_unconfigured(true)
        .install()?;

    let client = ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    let result = client.get(&url).send().await;
    let outcome = match result {
        Ok(response) => {
            println!("{} {}", response.status(), url);
            Ok(())
        }
        Err(e) => Err(format!("request failed: {e}")),
    };
    telemetry.shutdown().await?;
    outcome.map_err(Into::into)
}
