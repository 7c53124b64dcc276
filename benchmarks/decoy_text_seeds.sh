#!/bin/sh
# The Decoy-Text table: for each seed, the no-decoy baseline, the unregularized model and the
# IG prior (with the per-step cost monitor). Results: $OUT/<run>_s<seed>/result.json; then
#   python benchmarks/decoy_text_table.py $OUT
OUT=${1:-outputs/decoy_text_seeds}
for seed in ${SEEDS:-0 1 2 3 4}; do
  python train.py experiment=decoy_text prior=none data.decoy=false seed=$seed logger=none \
    hydra.run.dir=$OUT/baseline_s$seed
  python train.py experiment=decoy_text prior=none seed=$seed logger=none callbacks=cost \
    hydra.run.dir=$OUT/none_s$seed
  python train.py experiment=decoy_text prior=text_ig seed=$seed logger=none callbacks=cost \
    hydra.run.dir=$OUT/text_ig_s$seed
done
