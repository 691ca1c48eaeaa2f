#!/usr/bin/env bash
# RUSTC_WRAPPER for an "own-code coverage" fuzz build. It keeps cargo-fuzz's
# SanitizerCoverage flags (edge counters, PC table, compare tracing) only for
# crates whose sources are in this repository (otel-kit-core, otel-kit-http,
# otel-kit-messaging, the harnesses in fuzz/) and compiles every dependency
# (http, hashbrown, the opentelemetry crates, async-nats, lapin, rdkafka, ...)
# with the same flags minus the instrumentation; std is never instrumented.
# libFuzzer's `cov` then counts edges of code compiled in our crates, which
# includes our generics wherever the harness instantiates them and the
# dependency code inlined into ours. See README.md, "Pass 7".
#
#   RUSTC_WRAPPER=$PWD/own-coverage-rustc.sh RUSTC_BOOTSTRAP=1 \
#     CARGO_TARGET_DIR="$OWN_TARGET_DIR" cargo fuzz build -s none -O --debug-assertions
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
rustc="$1"
shift
for arg in "$@"; do
    if [[ "$arg" == *.rs && -f "$arg" ]]; then
        src="$(cd "$(dirname "$arg")" && pwd -P)"
        if [[ "$src" == "$repo"/* ]]; then
            exec "$rustc" "$@"
        fi
        break
    fi
done
args=()
for arg in "$@"; do
    case "$arg" in
        -Cpasses=sancov-module | -Cllvm-args=-sanitizer-coverage*) ;;
        *) args+=("$arg") ;;
    esac
done
exec "$rustc" "${args[@]}"
