"""Evaluation metrics, one file each, grouped by family (see :mod:`.registry`)."""
from . import (axiomatic, complexity, faithfulness, localisation,  # noqa: F401  (registration)
               randomisation, robustness)
from .registry import (CONTEXT, FAMILIES, EvaluationMetric, available_metrics, get_metric,
                       metric_table, register)

__all__ = ["CONTEXT", "EvaluationMetric", "FAMILIES", "available_metrics", "get_metric",
           "metric_table", "register"]
