//! Keeps `tests/proto/echo.rs` in sync with `tests/proto/echo.proto`, compiled
//! in pure Rust (protox), so no system `protoc` is needed.
//! `OTEL_GRPC_REGENERATE=1 cargo test -p otel-kit-grpc --test codegen` rewrites it.

use std::path::Path;

#[test]
fn generated_code_is_fresh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/proto");
    let fds = protox::compile([dir.join("echo.proto")], [&dir]).expect("echo.proto compiles");
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(out.path())
        .compile_fds(fds)
        .expect("code generation");
    let fresh = std::fs::read_to_string(out.path().join("otel.test.v1.rs")).unwrap();
    let checked_in = dir.join("echo.rs");
    if std::env::var_os("OTEL_GRPC_REGENERATE").is_some() {
        std::fs::write(&checked_in, &fresh).unwrap();
    }
    let current = std::fs::read_to_string(&checked_in).unwrap_or_default();
    assert!(
        current == fresh,
        "tests/proto/echo.rs is stale: run OTEL_GRPC_REGENERATE=1 cargo test -p otel-kit-grpc --test codegen"
    );
}
