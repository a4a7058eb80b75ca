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
mapfile -t overrides < <("$bin/python" scripts/stack.py params infra/template.yaml \
  --env-file deploy.env --set "Architecture=$(cat target/lambda/ARCH)")
# Where sam uploads the packaged functions: DEPLOY_BUCKET if set, else SAM's managed bucket.
artifacts=(--resolve-s3)
if [ -n "${DEPLOY_BUCKET:-}" ]; then
  artifacts=(--s3-bucket "$DEPLOY_BUCKET" --s3-prefix "$stack")
fi
region=()
if [ -n "${AWS_REGION:-${AWS_DEFAULT_REGION:-}}" ]; then
  region=(--region "${AWS_REGION:-$AWS_DEFAULT_REGION}")
fi
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
"$bin/python" scripts/stack.py outputs "$stack"
