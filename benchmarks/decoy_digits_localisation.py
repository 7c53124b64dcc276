"""Localisation metrics of Decoy-Digits runs (train.py experiment=decoy_digits prior=none|rrr|grad,
seeds 0 and 1, logger=csv callbacks=default, run folders /tmp/evalm_decoy/<prior>_s<seed>): RMA,
RRA, pointing game, energy pointing game, attribution localisation of grad and IG on the test
split, with the swatch (decoy) masks and the digit strokes (x > 0.3 outside the swatch)."""
import json, sys
from pathlib import Path
import pandas as pd, torch
from priors.evaluation import evaluate, load_run
torch.set_num_threads(1)
rows = []
for d in sorted(Path("/tmp/evalm_decoy").glob("*_s*")):
    if not (d / "model.pt").exists():
        continue
    run = load_run(d, 1)
    x, y, swatch = run.datamodule.test_dataset.tensors
    acc = json.loads((d / "result.json").read_text())["metrics"].get("test/acc")
    swatch = swatch.bool()
    digit = (x > 0.3) & ~swatch
    for region, masks in (("swatch", swatch), ("digit", digit)):
        f = evaluate(run.model.eval(), x, y.long(), methods=["grad", {"method": "ig", "n_steps": 32}],
                     metrics=["relevance_mass_accuracy", "relevance_rank_accuracy", "pointing_game",
                              "energy_pointing_game", "attribution_localisation"], masks=masks)
        for r in f.itertuples():
            rows.append({"run": d.name, "prior": d.name.rsplit("_s", 1)[0], "seed": d.name.rsplit("_s", 1)[1],
                         "test_acc": acc, "region": region, "method": r.method, "metric": r.metric, "value": r.value})
frame = pd.DataFrame(rows); frame.to_csv("/tmp/evalm_decoy/localisation.csv", index=False)
pd.set_option("display.width", 250)
print(frame.groupby(["prior", "region", "method", "metric"]).value.agg(["mean", "count"]).unstack("metric")["mean"].round(3).to_string())
print(frame.groupby("prior").test_acc.agg(["mean", "count"]))
