#!/usr/bin/env bash
# Deploys (or updates) the stack with the SAM CLI. Each template parameter comes from the
# environment variable of the same name in UPPER_SNAKE_CASE, or from deploy.env; unset ones keep
# the template's default. The built binaries' architecture (make build ARCH=...) is used.
#   STACK=iam-activity-tracker scripts/deploy.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
stack="${STACK:-iam-activity-tracker}"
if [ ! -f target/lambda/ARCH ]; then
  echo "no Lambda binaries in target/lambda: run make build first" >&2
  exit 1
fi
bin="$(scripts/deploy-tools.sh)"
export SAM_CLI_TELEMETRY=0
# Where sam uploads the packaged functions: DEPLOY_BUCKET if set, else SAM's managed bucket.
artifacts=(--resolve-s3)
if [ -n "${DEPLOY_BUCKET:-}" ]; then
  artifacts=(--s3-bucket "$DEPLOY_BUCKET" --s3-prefix "$stack")
fi
region=()
if [ -n "${AWS_REGION:-${AWS_DEFAULT_REGION:-}}" ]; then
  region=(--region "${AWS_REGION:-$AWS_DEFAULT_REGION}")
fi
# deploy [Key=Value ...]: one sam deploy with the parameters from the environment, plus these.
deploy() {
  local extra=() kv
  for kv in "$@"; do extra+=(--set "$kv"); done
  local overrides
  mapfile -t overrides < <("$bin/python" scripts/stack.py params infra/template.yaml \
    --env-file deploy.env --set "Architecture=$(cat target/lambda/ARCH)" "${extra[@]}")
  echo "deploying stack $stack with: ${overrides[*]}" >&2
  "$bin/sam" deploy \
    --template-file infra/template.yaml \
    --stack-name "$stack" \
    "${region[@]}" \
    "${artifacts[@]}" \
    --capabilities CAPABILITY_IAM \
    --no-fail-on-empty-changeset \
    --tags "application=iam-activity-tracker" \
    --parameter-overrides "${overrides[@]}"
}
# DynamoDB adds or removes one index per table update: going between no lookup index and both
# (an upgrade from a stack that had both, with the default none) deploys through one first.
step="$("$bin/python" scripts/stack.py index-step "$stack" --env-file deploy.env)"
if [ -n "$step" ]; then
  echo "the events table's lookup indexes change by two: deploying LookupIndexes=$step first" >&2
  deploy "LookupIndexes=$step"
fi
deploy
"$bin/python" scripts/stack.py outputs "$stack"
