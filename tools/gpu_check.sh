#!/usr/bin/env bash
# One command for a GPU machine: the test suite on CUDA, CMD vs DINO at the
# real size (ViT-S/16, batch 64, bf16), the data loader's images/s with the
# machine's cores and a 50-iteration training run, into one JSON (well under
# 10 minutes). See tools/gpu_check.py for the steps and docs/benchmarks.md
# for running it.
#
#   bash tools/gpu_check.sh [--wheels DIR] [--out FILE] [--dry-run]
#                           [--budget SECONDS] [--test-workers N]
#
# --wheels DIR  install every wheel in DIR first, without a package index
#               (pip install --no-index --no-deps --target), for a machine
#               that has torch, torchvision and timm but not mmengine,
#               mmcv-lite and mmpretrain; docs/benchmarks.md says how to
#               fill DIR with pip download.
# --dry-run     tiny sizes on the CPU (about a minute); the test suite runs
#               it.
# Python: $PYTHON, else python3. Exit status 0 when every step passed.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
WHEELS=''
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels) WHEELS=${2:?--wheels needs a folder}; shift 2 ;;
        --wheels=*) WHEELS=${1#--wheels=}; shift ;;
        *) ARGS+=("$1"); shift ;;
    esac
done

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "$WHEELS" ]; then
    if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        echo "gpu_check.sh: no .whl files in $WHEELS" >&2
        exit 2
    fi
    SITE=${GPU_CHECK_SITE:-/tmp/gpu_check_site}
    "$PY" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
    export GPU_CHECK_PIP_RC=$? GPU_CHECK_WHEELS="$WHEELS" GPU_CHECK_SITE="$SITE"
    export PYTHONPATH="$ROOT:$SITE${PYTHONPATH#"$ROOT"}"
fi
# the tests seed with deterministic algorithms, which cuBLAS allows only
# with a fixed workspace
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
export PYTHONUNBUFFERED=1
cd "$ROOT" && exec "$PY" tools/gpu_check.py ${ARGS[@]+"${ARGS[@]}"}
