"""The Hydra application: the training pipeline, the configs' resolvers, the configs (package
data) and the console entry points ``priors-train`` / ``priors-evaluate`` / ``priors-report``.

The two commands have separate config trees, so that each ``--help`` lists only its own groups:
``conf/train`` (``train.yaml``; data, model, prior, trainer, ...) and ``conf/evaluate``
(``evaluate.yaml``; method, metric). Importing this package imports nothing heavy.
"""
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent / "conf"
TRAIN_CONF = CONF_DIR / "train"
EVALUATE_CONF = CONF_DIR / "evaluate"
