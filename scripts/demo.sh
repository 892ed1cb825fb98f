#!/usr/bin/env bash
# Install personalize and run the API with the demo data set on an embedded Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export OPENBLAS_NUM_THREADS=1
exec .venv/bin/personalize demo "$@"
