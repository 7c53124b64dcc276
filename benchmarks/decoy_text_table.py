"""Table of the Decoy-Text seed sweep (benchmarks/decoy_text_seeds.sh): test accuracy of the
no-decoy baseline, the unregularized model and the IG prior, the IG share of attribution on the
decoy token at test, and the prior's per-step cost ratio (PriorCostMonitor's median).

    python benchmarks/decoy_text_table.py outputs/decoy_text_seeds
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from priors.attributions import get_method
from priors.batch import parse_batch
from priors.pipeline import build_datamodule, build_model


def decoy_share(run: Path) -> float:
    """Mean share of |IG| (pad baseline, 16 points) on the decoy token over the test set."""
    cfg = OmegaConf.create(json.loads((run / "result.json").read_text())["config"])
    dm = build_datamodule(cfg)
    model = build_model(cfg, dm)
    model.load_state_dict(torch.load(run / "model.pt"))
    model.eval()
    tokens, y, _ = parse_batch(dm.test_dataset.tensors)
    scores = get_method("text_ig")(model, tokens, None, n_steps=16).abs().detach()
    decoy = dm.test_dataset.tensors["decoy_mask"]
    return float(((scores * decoy).sum(1) / scores.sum(1)).mean())


def main(folder: str) -> None:
    root = Path(folder)
    print("| seed | no decoy acc | unregularized acc | IG prior acc | decoy share none | "
          "decoy share IG | cost ratio IG |")
    print("|---|---|---|---|---|---|---|")
    for base in sorted(root.glob("baseline_s*")):
        seed = base.name.split("_s")[-1]
        runs = {k: root / f"{k}_s{seed}" for k in ("baseline", "none", "text_ig")}
        if not all((r / "result.json").exists() for r in runs.values()):
            continue
        m = {k: json.loads((r / "result.json").read_text())["metrics"] for k, r in runs.items()}
        print(f"| {seed} | {m['baseline']['test/acc']:.3f} | {m['none']['test/acc']:.3f} | "
              f"{m['text_ig']['test/acc']:.3f} | {decoy_share(runs['none']):.3f} | "
              f"{decoy_share(runs['text_ig']):.3f} | "
              f"{m['text_ig'].get('prior_cost/median_ratio', float('nan')):.2f} |")


if __name__ == "__main__":
    main(sys.argv[1])
