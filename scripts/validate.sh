#!/usr/bin/env bash
# Lints the SAM template and the member-account template offline: cfn-lint (informational checks too, two regions) and
# `sam validate --lint`. Neither calls AWS; fake credentials keep the SDK from looking for real ones.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$("$root/scripts/deploy-tools.sh")"
template="$root/infra/template.yaml"
export AWS_ACCESS_KEY_ID=validate AWS_SECRET_ACCESS_KEY=validate AWS_SESSION_TOKEN=validate
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0
for t in "$template" "$root/infra/member.yaml"; do
  "$bin/cfn-lint" --include-checks I --regions us-east-1 eu-west-1 -- "$t"
  echo "cfn-lint: $t is clean" >&2
done
"$bin/sam" validate --lint --template-file "$template"
"$bin/python" "$root/scripts/stack.py" self-test
