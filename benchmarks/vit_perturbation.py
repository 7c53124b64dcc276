"""ViT attributions on Decoy-Digits: perturbation AUCs (Chefer et al. CVPR 2021) and time/image.

Trains ``python train.py experiment=<experiment> model=vit prior=<prior>`` (in process, seed
``--seed``; ``--experiment decoy_digits_vit``, the default, is the setting in which the
unregularized ViT is fooled by the decoy, ``--experiment decoy_digits`` the 4x4-patch ViT that
is not), then, on the selected weights, prints for each ViT attribution method the positive
(lower is better) and negative (higher is better) patch-perturbation areas on the validation
(training distribution) and test (random swatch shades) splits, explaining the label (a
seeded random map is the floor; ``--curves`` also prints the test accuracy curves), and the
time per image of one call on a batch of 64 test images (median and minimum of ``--reps``
interleaved repetitions, ``torch.set_num_threads(--threads)``).

    python benchmarks/vit_perturbation.py --prior none --threads 1
    python benchmarks/vit_perturbation.py --prior vit_relevance --threads 1
    python benchmarks/vit_perturbation.py --experiment decoy_digits --prior none
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
REFERENCE = ("random",)  # the floor every map must beat (areas only, not timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="decoy_digits_vit",
                        help="a Decoy-Digits experiment (conf/experiment/)")
    parser.add_argument("--prior", default="none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--curves", action="store_true",
                        help="also print the test accuracy curves over the removed fractions")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[
            f"experiment={args.experiment}", "model=vit", f"prior={args.prior}",
            f"seed={args.seed}", "logger=none", "threads=1", "callbacks=default",
            "paths.output_dir=outputs/vit_perturbation",
            *args.overrides])
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    test = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    model = module.model.eval()
    torch.set_num_threads(args.threads)
    print(f"experiment={args.experiment} prior={args.prior} seed={args.seed}: "
          f"test/acc {test['test/acc']:.4f}")
    # Areas as published by Chefer et al.: trapezoid over 0..90 % removed, clean accuracy at 0 %
    # included, x 100.
    print(f"{'method (AUC x100)':28s} {'val pos':>8s} {'val neg':>8s} {'test pos':>8s} "
          f"{'test neg':>8s}")
    curves = []
    for name in METHODS + REFERENCE:
        row = []
        for split in ("val", "test"):
            x, y, _ = getattr(datamodule, f"{split}_dataset").tensors
            res = perturbation_test(model, x, y, name, patch_size=model.patch_size, batch_size=64)
            row += [res.positive_auc, res.negative_auc]
        curves.append((name, res))
        print(f"{name:28s} " + " ".join(f"{v:8.3f}" for v in row))
    if args.curves:
        print("test accuracy after removing fractions " + " ".join(f"{f:.1f}" for f in
                                                                 res.fractions))
        for name, res in curves:
            for label, acc in (("pos", res.positive), ("neg", res.negative)):
                print(f"  {name:28s} {label} " + " ".join(f"{a:.2f}" for a in acc))
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
