#!/usr/bin/env bash
# Checks that Lambda binaries run on provided.al2023: every glibc symbol version they need is at
# most 2.34 (what Amazon Linux 2023 ships), and they link only libraries the runtime has.
#   scripts/check-glibc.sh BINARY...
set -euo pipefail
MAX="${GLIBC_MAX:-2.34}"
allowed_libs="libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1"
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }

newer_than_max() { # reads versions, prints those above MAX
  while read -r v; do
    [ "$(printf '%s\n%s\n' "$v" "$MAX" | sort -V | tail -1)" = "$MAX" ] || echo "$v"
  done
}

failed=0
for bin in "$@"; do
  if [ ! -f "$bin" ]; then
    echo "$bin: not found (build it first: make build)" >&2
    failed=1
    continue
  fi
  ok=1
  # readelf reads any architecture's ELF, so arm64 binaries are checked on an x86_64 machine.
  versions="$(readelf -W --version-info "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV)"
  newest="$(printf '%s\n' "$versions" | tail -1)"
  too_new="$(printf '%s\n' "$versions" | newer_than_max)"
  if [ -n "$too_new" ]; then
    ok=0
    echo "$bin: needs glibc $newest; provided.al2023 has $MAX. Symbols:" >&2
    for v in $too_new; do
      readelf -W --dyn-syms "$bin" | awk -v tag="@GLIBC_$v" 'index($0, tag) { print "  " $8 }' >&2
    done
  fi
  libs="$(readelf -W -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
  for lib in $libs; do
    case " $allowed_libs " in
      *" $lib "*) ;;
      *) ok=0; echo "$bin: links $lib, which provided.al2023 may not have" >&2 ;;
    esac
  done
  if [ "$ok" = 1 ]; then
    echo "$bin: glibc $newest at most ($MAX allowed); links $(printf '%s\n' "$libs" | paste -sd' ')"
  else
    failed=1
  fi
done
exit "$failed"
