"""``priors-train`` (``python train.py`` in the repository): train a model with an attribution
prior from the Hydra configs in ``priors/app/conf/train``; ``--help`` lists the config groups.

Outputs go under the current directory (``outputs/train/<time>/``, sweeps ``multirun/<time>/``);
the run prints its output directory and ``result.json`` at the end.
"""
from __future__ import annotations

import hydra
from omegaconf import DictConfig

from . import TRAIN_CONF
from .console import quiet_lightning, run_app
from .resolvers import register_resolvers

# At import, not in the job: joblib's workers import this module to unpickle the task and
# resolve its config (``${priors.model_bias:...}``) before the pipeline is imported.
register_resolvers()


@hydra.main(version_base="1.3", config_path=str(TRAIN_CONF), config_name="train")
def _train(cfg: DictConfig) -> float:
    from .pipeline import run, run_banner

    metrics = run(cfg)
    run_banner(cfg)
    # Sweepers (Optuna, ...) optimize the returned value: a typo must not hand them NaN.
    if cfg.optimized_metric not in metrics:
        raise KeyError(f"optimized_metric={cfg.optimized_metric!r} is not a metric of this run;"
                       f" its metrics: {sorted(metrics)}")
    return metrics[cfg.optimized_metric]


def main() -> None:
    """The console script: one-line errors for mistakes on the command line."""
    quiet_lightning()
    run_app(_train, "priors-train")


if __name__ == "__main__":
    main()
