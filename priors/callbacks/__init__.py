"""Lightning callbacks."""
from .attribution_prior import AttributionPrior
from .attribution_share import AttributionShare
from .keep_best import KeepBestWeights
from .prior_cost import PriorCostMonitor

__all__ = ["AttributionPrior", "AttributionShare", "KeepBestWeights", "PriorCostMonitor"]
