#!/usr/bin/env bash
# Installs the pinned deploy tools into .tools/deploy (once) and prints that venv's bin folder:
# cfn-lint and the SAM CLI (which brings boto3, used by scripts/stack.py).
set -euo pipefail

CFN_LINT_VERSION="1.58.0"
SAM_VERSION="1.170.0"
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/deploy"

have_tools() {
  [ -x "$venv/bin/cfn-lint" ] && [ -x "$venv/bin/sam" ] &&
    "$venv/bin/python" -c "import sys, importlib.metadata as m; sys.exit(not (m.version('cfn-lint') == '$CFN_LINT_VERSION' and m.version('aws-sam-cli') == '$SAM_VERSION'))" 2>/dev/null
}

if ! have_tools; then
  echo "installing cfn-lint==$CFN_LINT_VERSION aws-sam-cli==$SAM_VERSION into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$root/.tools"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_VERSION"
fi
echo "$venv/bin"
