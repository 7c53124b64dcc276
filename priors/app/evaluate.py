"""``priors-evaluate`` (``python evaluate.py`` in the repository): evaluate the attributions of
trained runs, ``priors-evaluate run=<run dir>`` (Hydra, configs in ``priors/app/conf/evaluate``).

Writes ``<run>/evaluation/`` (CSV per metric, ``scores.csv``, PNG plots, ``summary.md``); see
``evaluate.yaml`` and :func:`priors.evaluation.evaluate_run`. ``run=`` may also be a folder of
runs, e.g. a whole sweep: ``priors-evaluate run=multirun/<time>`` evaluates every job below it
that saved ``model.pt``. (Hydra's ``glob()`` sweep selects config-group options only:
``-m 'run=glob(...)'`` launches no job for this string key.)
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import hydra
from omegaconf import DictConfig, OmegaConf

from . import EVALUATE_CONF
from .console import quiet_lightning, run_app


def evaluate(cfg: DictConfig) -> List[dict]:
    """Run :func:`~priors.evaluation.evaluate_run` on every run that ``cfg.run`` names, with
    the options of the composed config; one result dict per run."""
    from ..evaluation import evaluate_run, find_runs
    from .resolvers import register_resolvers

    register_resolvers()
    options = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    options.pop("hydra", None)
    root = Path(options.pop("run"))
    methods = options.pop("method", None) or {}
    metrics = options.pop("metric", None) or {}
    out_dir = options.pop("out_dir", None)
    runs = find_runs(root)
    results = []
    for run_dir in runs:
        # With several runs, out_dir (if set) mirrors their layout below the given folder.
        out = (Path(out_dir) / run_dir.relative_to(root) if out_dir and len(runs) > 1
               else out_dir)
        results.append(evaluate_run(run_dir, methods=methods, metrics=metrics, out_dir=out,
                                    **options))
    return results


@hydra.main(version_base="1.3", config_path=str(EVALUATE_CONF), config_name="evaluate")
def _evaluate(cfg: DictConfig) -> None:
    for result in evaluate(cfg):
        print(f"[priors] evaluation written to {result['out_dir']}")


def main() -> None:
    """The console script: one-line errors for mistakes on the command line."""
    quiet_lightning()
    run_app(_evaluate, "priors-evaluate")


if __name__ == "__main__":
    main()
