"""Evaluate the attributions of a trained run: ``python evaluate.py run=<run dir>`` (Hydra).

Writes ``<run>/evaluation/`` (CSV per metric, ``scores.csv``, PNG plots, ``summary.md``); see
``conf/evaluate.yaml`` and :func:`priors.evaluation.evaluate_run`.
"""
import hydra
from omegaconf import DictConfig, OmegaConf

from priors.evaluation import evaluate_run


def evaluate(cfg: DictConfig) -> dict:
    """Run :func:`~priors.evaluation.evaluate_run` with the options of a composed config."""
    options = OmegaConf.to_container(cfg, resolve=True)
    for key in ("hydra",):
        options.pop(key, None)
    return evaluate_run(options.pop("run"), methods=options.pop("method", None) or {},
                        metrics=options.pop("metric", None) or {}, **options)


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    results = evaluate(cfg)
    print(f"[priors] evaluation written to {results['out_dir']}")


if __name__ == "__main__":
    main()
