"""ViT attributions on Decoy-Digits: perturbation AUCs (Chefer et al. CVPR 2021) and time/image.

Trains ``python train.py experiment=decoy_digits model=vit prior=<prior>`` (in process, seed
``--seed``), then, on the selected weights, prints for each ViT attribution method the positive
(lower is better) and negative (higher is better) patch-perturbation areas on the validation
(training distribution) and test (random swatch shades) splits, explaining the label, and the
time per image of one call on a batch of 64 test images (median and minimum of ``--reps``
interleaved repetitions, ``torch.set_num_threads(--threads)``).

    python benchmarks/vit_perturbation.py --prior none
    python benchmarks/vit_perturbation.py --prior vit_relevance
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a source checkout

from hydra import compose, initialize_config_dir  # noqa: E402

from priors.attributions import get_method  # noqa: E402
from priors.evaluation.perturbation import perturbation_test  # noqa: E402
from priors.pipeline import build  # noqa: E402

METHODS = ("transformer_attribution", "gradient_weighted_attention", "rollout", "raw_attention",
           "partial_lrp", "attention_gradcam")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default="none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=decoy_digits", "model=vit", f"prior={args.prior}", f"seed={args.seed}",
            "logger=none", "threads=1", "paths.output_dir=outputs/vit_perturbation",
            *args.overrides])
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    test = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    model = module.model.eval()
    torch.set_num_threads(args.threads)
    print(f"prior={args.prior} seed={args.seed}: test/acc {test['test/acc']:.4f}")
    print(f"{'method':28s} {'val pos':>8s} {'val neg':>8s} {'test pos':>8s} {'test neg':>8s}")
    for name in METHODS:
        row = []
        for split in ("val", "test"):
            x, y, _ = getattr(datamodule, f"{split}_dataset").tensors
            res = perturbation_test(model, x, y, name, patch_size=model.patch_size, batch_size=64)
            row += [res.positive_auc, res.negative_auc]
        print(f"{name:28s} " + " ".join(f"{v:8.3f}" for v in row))
    x, y, _ = datamodule.test_dataset.tensors
    x, y = x[:64], y[:64]
    calls = {name: (lambda fn=get_method(name): fn(model, x, y)) for name in METHODS}
    with torch.no_grad():
        calls["(forward only)"] = lambda: model(x)
    times = {name: [] for name in calls}
    for fn in calls.values():  # warm-up
        fn()
    for _ in range(args.reps):  # interleaved, so that load changes hit every method alike
        for name, fn in calls.items():
            start = time.perf_counter()
            with torch.no_grad() if name == "(forward only)" else torch.enable_grad():
                fn()
            times[name].append(time.perf_counter() - start)
    print(f"time per image, batch of 64, {torch.get_num_threads()} threads (median, min):")
    for name, ts in times.items():
        print(f"  {name:28s} {1e3 * statistics.median(ts) / 64:7.3f} ms {1e3 * min(ts) / 64:7.3f} ms")


if __name__ == "__main__":
    main()
