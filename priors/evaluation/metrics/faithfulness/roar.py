"""ROAR / KAR remove-and-retrain of a training run as a run-level metric."""
from __future__ import annotations

from typing import Any

from ..registry import register


@register("roar", family="faithfulness", higher_is_better=False, kind="run",
          needs=("retraining",))
def roar(run_dir: Any, out_dir: Any = None, **options: Any):
    """ROAR (remove the most relevant features and retrain; lower accuracy is better) and KAR
    (keep them; higher is better) over fractions and seeds.

    Hooker, Erhan, Kindermans and Kim, "A Benchmark for Interpretability Methods in Deep
    Neural Networks", NeurIPS 2019 (Sec. 3). See :func:`priors.evaluation.roar.run_roar` for
    the options (``methods``, ``fractions``, ``modes``, ``seeds``, ...). The direction given is
    ROAR's.
    """
    from ...roar import run_roar

    return run_roar(run_dir, out_dir=out_dir, **options)
