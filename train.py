"""Train a model with an attribution prior: ``python train.py prior=xg`` (Hydra; ``-m`` sweeps)."""
import hydra
from omegaconf import DictConfig

from priors.pipeline import run


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    metrics = run(cfg)
    # Sweepers (Optuna, ...) optimize the returned value: a typo must not hand them NaN.
    if cfg.optimized_metric not in metrics:
        raise KeyError(f"optimized_metric={cfg.optimized_metric!r} is not a metric of this run;"
                       f" its metrics: {sorted(metrics)}")
    return metrics[cfg.optimized_metric]


if __name__ == "__main__":
    main()
