"""Train a model with an attribution prior: ``python train.py prior=xg`` (Hydra; ``-m`` sweeps)."""
import hydra
from omegaconf import DictConfig

from priors.pipeline import run


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    metrics = run(cfg)
    # Sweepers (Optuna, ...) optimize the returned value.
    return metrics.get(cfg.optimized_metric, float("nan"))


if __name__ == "__main__":
    main()
