"""Evaluation of attributions: keep/remove-mask metrics, axiom checks, run-level evaluation,
remove-and-retrain (ROAR/KAR: :mod:`~priors.evaluation.roar`) and sanity checks for saliency
maps (:mod:`~priors.evaluation.sanity`).

``python evaluate.py run=<training run dir>`` (see :func:`~priors.evaluation.run.evaluate_run`)
writes ``<run>/evaluation/``. The building blocks are public for other benchmarks: ranking and
masking in :mod:`~priors.evaluation.masking`, keep/remove curves in
:mod:`~priors.evaluation.keep_remove`, axiom checks in :mod:`~priors.evaluation.axioms`,
positive / negative patch perturbation (Chefer et al. 2021) in
:mod:`~priors.evaluation.perturbation`.
"""
from .attribute import compute_attributions, method_specs, split_available
from .axioms import (SplitReLULayer, completeness, implementation_invariance, sensitivity,
                     split_hidden_layer, xg_equals_ig)
from .keep_remove import KEEP_REMOVE, MaskMetric, keep_remove, mask_curve, task_score
from .load import LoadedRun, dataset_tensors, find_runs, load_run, run_config
from .masking import (feature_mean, feature_scores, gaussian_blur, geometric_fractions,
                      iter_masked, mask_fraction, masked_grid, rank_features, ranks_from_order)
from .perturbation import (PerturbationResult, patch_scores, perturbation_protocol,
                           perturbation_test, remove_patches)
from .run import METRICS, evaluate_run
from .functional import evaluate, evaluate_loader
from .metrics import available_metrics, get_metric, metric_table

__all__ = [
    "KEEP_REMOVE", "METRICS", "available_metrics", "evaluate", "evaluate_loader", "get_metric",
    "metric_table", "LoadedRun", "MaskMetric", "SplitReLULayer", "completeness",
    "compute_attributions", "dataset_tensors", "evaluate_run", "feature_mean", "feature_scores",
    "find_runs",
    "gaussian_blur", "geometric_fractions", "implementation_invariance", "iter_masked",
    "keep_remove", "load_run", "mask_curve", "mask_fraction", "masked_grid", "method_specs",
    "PerturbationResult", "patch_scores", "perturbation_protocol", "perturbation_test",
    "remove_patches",
    "rank_features", "ranks_from_order", "run_config", "sensitivity", "split_available",
    "split_hidden_layer", "task_score", "xg_equals_ig",
]
