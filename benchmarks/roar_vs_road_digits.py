"""ROAR vs ROAD on the digits study, with the mask-only diagnostics (issue 23's experiment).

The reference model of ``experiment=roar_digits`` (bias-free SmallCNN on scikit-learn's digits
at 16x16, Adam 1e-3, batch 64, best validation epoch of ``--epochs``) and the methods and
fractions of ``conf/metric/roar.yaml``. The features are ranked by |attribution| (pixels,
channels summed; random tie-break) with the ROAR pipeline's own functions
(:func:`priors.evaluation.roar_data.compute_scores`), and the top fraction is removed

* ROAR: replaced by the training mean, a fresh model retrained on the modified training set,
  scored on the modified test set (``--retrain-epochs``, plain Adam loop: the Lightning jobs
  of ``run_roar`` cost too much on a CPU shared by 8 sessions);
* ROAD: replaced by noisy linear imputation (Rong et al. 2022, noise 0.01), the *original*
  model scored on the imputed test set (no retraining), and also retrained on imputed data
  (``ROAD+retrain``).

Diagnostics: ``mask->label`` is a logistic regression predicting the label from the removal
mask alone (trained on the training masks, accuracy on the test masks; the same masks for ROAR
and ROAD, since the ranking is the same); ``mask visible`` is the AUROC of a logistic regression
of a gradient-boosted classifier that tells removed from kept pixels in the modified test
images from four per-pixel features (value, |value - training mean|, value minus its
8-neighbour mean and its magnitude), fitted on half the test images and scored on the other
half: 0.5 means the removal cannot be seen.

    OMP_NUM_THREADS=1 python benchmarks/roar_vs_road_digits.py --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from priors.data import DecoyDigitsDataModule  # noqa: E402
from priors.evaluation.auroc import auroc  # noqa: E402
from priors.evaluation.metrics.faithfulness.imputation import (  # noqa: E402
    _neighbours, noisy_linear_imputation)
from priors.evaluation.roar_data import _ranking, compute_scores, feature_means  # noqa: E402
from priors.models.small_cnn import SmallCNN  # noqa: E402

METHODS = ("grad", "ig", "xg", "smoothgrad_sq", "vargrad", "random")
HPARAMS = {"ig": {"n_steps": 32}}
FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)


def train(x, y, xv, yv, epochs, seed):
    torch.manual_seed(seed)
    model = SmallCNN(1, 10, 16, bias=False)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    best, state = -1.0, None
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        acc = accuracy(model, xv, yv)
        if acc > best:
            best, state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    return float((model(x).argmax(1) == y).float().mean())


def removal(scores, fraction, seed):
    gen = torch.Generator().manual_seed(seed)
    order = _ranking(scores, gen)
    k = int(round(fraction * scores.shape[1]))
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(1, order[:, :k], True)


def mean_fill(x, removed, means):
    m = removed.view(len(x), 1, *x.shape[2:])
    return torch.where(m, means.view(1, -1, 1, 1).to(x), x)


def mask_to_label(m_train, y_train, m_test, y_test):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=300).fit(m_train.float().numpy(), y_train.numpy())
    return float(clf.score(m_test.float().numpy(), y_test.numpy()))


def mask_visible(x_mod, removed, means):
    from sklearn.ensemble import HistGradientBoostingClassifier

    z = x_mod.double()
    lap = z - _neighbours(z) / _neighbours(torch.ones_like(z[:1]))
    feats = torch.stack([z, (z - means.double().view(1, -1, 1, 1)).abs(), lap, lap.abs()],
                        -1).reshape(-1, 4).numpy()
    lab = removed.reshape(-1).numpy()
    half = len(lab) // 2  # first half of the test images to fit, second half to score
    clf = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(feats[:half],
                                                                         lab[:half])
    return auroc(torch.as_tensor(clf.predict_proba(feats[half:])[:, 1]),
                 torch.as_tensor(lab[half:]))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--retrain-epochs", type=int, default=5)
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS))
    p.add_argument("--out", default="roar_vs_road_digits.csv")
    args = p.parse_args()
    torch.set_num_threads(1)
    dm = DecoyDigitsDataModule(decoy=False, image_size=16, seed=0)
    dm.setup("fit")
    (xtr, ytr), (xv, yv), (xte, yte) = [d.tensors[:2] for d in
                                        (dm.train_dataset, dm.val_dataset, dm.test_dataset)]
    t0 = time.time()
    model = train(xtr, ytr, xv, yv, args.epochs, 0)
    print(f"# reference model: test acc {accuracy(model, xte, yte):.4f} ({time.time() - t0:.0f} s)",
          flush=True)
    means = feature_means(xtr)
    rows = []
    for seed in args.seeds:  # seed-major: a cut-short run still has every method
        for method in args.methods:
            sc = {s: compute_scores(model, method, x, y, task_target="pred", references=xtr,
                                    seed=seed + i, hparams=HPARAMS.get(method, {}))
                  for i, (s, x, y) in enumerate((("train", xtr, ytr), ("val", xv, yv),
                                                 ("test", xte, yte)))}
            for f in args.fractions:
                rem = {s: removal(sc[s], f, seed) for s in sc}
                data = {s: (x, rem[s].view(len(x), *x.shape[2:]))
                        for s, x in (("train", xtr), ("val", xv), ("test", xte))}
                gen = torch.Generator().manual_seed(seed)
                roar = {s: mean_fill(x, rem[s], means) for s, (x, _) in data.items()}
                road = {s: noisy_linear_imputation(x, m, 0.01, gen) for s, (x, m) in data.items()}
                row = {"method": method, "seed": seed, "fraction": f,
                       "ROAR": accuracy(train(roar["train"], ytr, roar["val"], yv,
                                              args.retrain_epochs, seed), roar["test"], yte),
                       "ROAD": accuracy(model, road["test"], yte),
                       "ROAD+retrain": accuracy(train(road["train"], ytr, road["val"], yv,
                                                      args.retrain_epochs, seed),
                                                road["test"], yte),
                       "no-retrain mean fill": accuracy(model, roar["test"], yte),
                       "mask->label": mask_to_label(rem["train"], ytr, rem["test"], yte),
                       "mask visible ROAR": mask_visible(roar["test"], data["test"][1], means),
                       "mask visible ROAD": mask_visible(road["test"], data["test"][1], means)}
                rows.append(row)
                print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row.items()), f"({time.time() - t0:.0f} s)",
                      flush=True)
                pd.DataFrame(rows).to_csv(args.out, index=False)
    frame = pd.DataFrame(rows)
    cols = ["ROAR", "ROAD", "ROAD+retrain", "no-retrain mean fill", "mask->label",
            "mask visible ROAR", "mask visible ROAD"]
    table = frame.groupby(["method", "fraction"])[cols].agg(["mean", "sem"])
    print(table.round(3).to_string())
    print(frame.groupby("method")[cols].mean().round(3).to_string())


if __name__ == "__main__":
    main()
