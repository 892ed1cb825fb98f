#!/usr/bin/env bash
# Install personalize with its test extras and run the test suite against a real Redis
# (an embedded redis-server the tests start, or REDIS_URL when set).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
export OPENBLAS_NUM_THREADS=1
exec .venv/bin/python -m pytest "$@"
