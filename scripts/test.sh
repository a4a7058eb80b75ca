#!/usr/bin/env bash
# Runs the whole test suite: cargo-nextest when installed, cargo test otherwise.
#
# Tests that need an emulator (moto, pyarrow) are marked #[ignore] so that a plain `cargo test`
# reports them as ignored, never as passed; here, under scripts/with-moto.sh, they run too.
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --run-ignored all "$@"
else
  cargo test --workspace --no-fail-fast "$@" -- --include-ignored
fi
