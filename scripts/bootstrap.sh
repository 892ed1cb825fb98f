#!/usr/bin/env bash
# Create .venv and install personalize into it (with the extras given as $1, e.g. "test").
# Works on a fresh Debian with Python 3.11 and no root: if the python3-venv / pip packages
# are missing, the venv is made without pip and pip is fetched from PyPI as a wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11+ not found" >&2; exit 1; }
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "Python 3.11+ required, found $("$PY" --version)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    "$PY" -m venv --without-pip .venv
  fi
fi
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  echo "bootstrapping pip from PyPI (no ensurepip on this Python)" >&2
  tmp="$(mktemp -d)"
  .venv/bin/python - "$tmp" <<'PYEOF'
import json, sys, urllib.request
info = json.load(urllib.request.urlopen("https://pypi.org/pypi/pip/json", timeout=60))
url = next(f["url"] for f in info["urls"] if f["filename"].endswith(".whl"))
urllib.request.urlretrieve(url, f"{sys.argv[1]}/pip.whl")
PYEOF
  .venv/bin/python "$tmp/pip.whl/pip" install --quiet "$tmp/pip.whl"
  rm -rf "$tmp"
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
target="."
[ -n "$extras" ] && target=".[$extras]"
.venv/bin/python -m pip install --quiet -e "$target"
# Compile the scorer kernels now (numba caches the machine code), not in the first server worker.
OPENBLAS_NUM_THREADS=1 .venv/bin/personalize warm-up
