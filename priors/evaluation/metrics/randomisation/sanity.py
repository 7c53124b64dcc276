"""The sanity checks of a training run (model and data randomization) as a run-level metric."""
from __future__ import annotations

from typing import Any

from ..registry import register


@register("sanity", family="randomisation", higher_is_better=False, kind="run",
          needs=("explain", "retraining"))
def sanity(run_dir: Any, out_dir: Any = None, **options: Any):
    """Sanity checks for saliency maps on a trained run: cascading / independent model
    randomization and data randomization (retraining on permuted labels).

    Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for Saliency Maps",
    NeurIPS 2018 (Sec. 3 and 4). Lower similarity to the trained model's maps is better. See
    :func:`priors.evaluation.sanity.run_sanity` for the options (``methods``, ``modes``,
    ``labels``, ``metrics``, ...).
    """
    from ...sanity import run_sanity

    return run_sanity(run_dir, out_dir=out_dir, **options)
