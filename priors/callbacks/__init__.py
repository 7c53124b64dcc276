"""Lightning callbacks."""
from .attribution_prior import AttributionPrior
from .keep_best import KeepBestWeights
from .prior_cost import PriorCostMonitor

__all__ = ["AttributionPrior", "KeepBestWeights", "PriorCostMonitor"]
