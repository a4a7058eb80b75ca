#!/usr/bin/env bash
# Runs a command with a moto server (AWS emulator) on a free 127.0.0.1 port, then stops it.
#
# Installs the pinned moto, pyarrow, sqlglot and duckdb into .tools/ when missing. The command sees:
#   IAT_TEST_MOTO_ENDPOINT   the server's URL
#   IAT_TEST_PYTHON          a Python with pyarrow (an independent Parquet reader), sqlglot (Trino
#                            parsing and translation) and duckdb (runs translated SQL)
#   IAT_REQUIRE_EMULATORS=1  the command runs with emulators (tests needing one are #[ignore]d otherwise)
#   AWS_* test credentials and region, so the AWS SDK never looks for real ones.
set -euo pipefail

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
PYARROW_VERSION="26.0.1"
SQLGLOT_VERSION="30.30.0"
DUCKDB_VERSION="2.0.1"
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"
mkdir -p "$tools"

have_tools() {
  [ -x "$venv/bin/moto_server" ] &&
    "$venv/bin/python" -c "import sys, importlib.metadata as m; sys.exit(not (m.version('moto') == '$MOTO_VERSION' and m.version('pyarrow') == '$PYARROW_VERSION' and m.version('sqlglot') == '$SQLGLOT_VERSION' and m.version('duckdb') == '$DUCKDB_VERSION'))" 2>/dev/null
}

if ! have_tools; then
  echo "installing moto[server]==$MOTO_VERSION pyarrow==$PYARROW_VERSION sqlglot==$SQLGLOT_VERSION duckdb==$DUCKDB_VERSION into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "pyarrow==$PYARROW_VERSION" "sqlglot==$SQLGLOT_VERSION" "duckdb==$DUCKDB_VERSION"
fi

port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$tools/moto.log"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap stop EXIT INT TERM

ready=""
for _ in $(seq 1 150); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
    ready=yes
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "moto server did not start; its log ($log):" >&2
  cat "$log" >&2
  exit 1
fi
echo "moto $MOTO_VERSION on http://127.0.0.1:$port (pid $pid)" >&2

export IAT_TEST_MOTO_ENDPOINT="http://127.0.0.1:$port"
export IAT_REQUIRE_EMULATORS=1
export IAT_TEST_PYTHON="$venv/bin/python"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
"$@"
