#!/usr/bin/env bash
# Node clustering sweep of SCGC* and PamC (soft and hard meta-nodes), one short process per
# (seed, dataset, variant), all adding to experiments/results/pamc_clustering.md(.runs.json).
#
#   experiments/run_pamc_clustering.sh                     # all datasets, seeds 0 1 2
#   DATASETS="cora citeseer" SEEDS="0" experiments/run_pamc_clustering.sh
#
# ACM is HeCo's (its PAP meta-path graph); WebKB graphs carry all-MiniLM-L6-v2 text features.
# Env: PYTHON, DATA_ROOT, DATASETS, SEEDS, VARIANTS.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA_ROOT=${DATA_ROOT:-../shared/data}
DATASETS=${DATASETS:-"cora citeseer acm webkb-cornell webkb-texas webkb-washington webkb-wisconsin"}
SEEDS=${SEEDS:-"0 1 2"}
VARIANTS=${VARIANTS:-"pamc-hard pamc scgc"}
for seed in $SEEDS; do
  for ds in $DATASETS; do
    for v in $VARIANTS; do
      PYTHONPATH=$PWD "$PYTHON" experiments/pamc_clustering.py --variants "$v" --datasets "$ds" \
        --seeds "$seed" --data-root "$DATA_ROOT" --threads 1
    done
  done
done
