#!/usr/bin/env bash
# Node clustering sweep of SCGC* and PamC (soft and hard meta-nodes), one short process per
# (seed, dataset, variant), all adding to experiments/results/pamc_clustering.md(.runs.json).
#
#   experiments/run_pamc_clustering.sh                     # Cora and CiteSeer, seeds 0 1 2
#   DATASETS="cora citeseer acm cornell texas washington wisconsin" experiments/run_pamc_clustering.sh
#
# ACM (HeCo) and the WebKB graphs need their loaders (graphcl.data.load("acm"), ...); the
# dataset names are whatever those loaders register. Env: PYTHON, DATA_ROOT, SEEDS, VARIANTS.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA_ROOT=${DATA_ROOT:-../shared/data}
DATASETS=${DATASETS:-"cora citeseer"}
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
