"""Lightning callbacks."""
from .attribution_maps import AttributionMaps
from .attribution_prior import AttributionPrior
from .attribution_quality import AttributionQuality
from .attribution_share import AttributionShare
from .keep_best import KeepBestWeights
from .prior_cost import PriorCostMonitor

__all__ = ["AttributionMaps", "AttributionPrior", "AttributionQuality", "AttributionShare", "KeepBestWeights", "PriorCostMonitor"]
