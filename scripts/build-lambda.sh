#!/usr/bin/env bash
# Builds the Lambda functions for provided.al2023 and lays them out for the SAM template:
# target/lambda/<function>/bootstrap. Checks their glibc needs.
#   scripts/build-lambda.sh [x86_64|arm64]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
arch="${1:-x86_64}"
functions="tracker alerter exporter report ingester alarm"

case "$arch" in
  x86_64) triple="x86_64-unknown-linux-gnu" ;;
  arm64) triple="aarch64-unknown-linux-gnu" ;;
  *) echo "ARCH must be x86_64 or arm64, not '$arch'" >&2; exit 2 ;;
esac

host="$(rustc -vV | sed -n 's/^host: //p')"
# The `deploy` profile (Cargo.toml): LTO, one codegen unit, size-oriented.
args=(--profile deploy -p iat-lambda --bins)
out="target/deploy"
if [ "$triple" != "$host" ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
    echo "building for $arch needs Rust's $triple target: rustup target add $triple" >&2
    exit 1
  fi
  if [ "$triple" = "aarch64-unknown-linux-gnu" ] && [ -z "${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-}" ]; then
    if command -v aarch64-linux-gnu-gcc >/dev/null; then
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    else
      echo "building for arm64 needs a cross linker: install gcc-aarch64-linux-gnu (Debian/Ubuntu)" >&2
      echo "or set CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER" >&2
      exit 1
    fi
  fi
  args+=(--target "$triple")
  out="target/$triple/deploy"
fi

cargo build "${args[@]}"
for f in $functions; do
  mkdir -p "target/lambda/$f"
  cp "$out/$f" "target/lambda/$f/bootstrap"
done
echo "$arch" > target/lambda/ARCH
scripts/check-glibc.sh $(for f in $functions; do echo "target/lambda/$f/bootstrap"; done)
for f in $functions; do
  printf '%-9s %s bytes\n' "$f" "$(stat -c %s "target/lambda/$f/bootstrap")"
done
