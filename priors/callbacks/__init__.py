"""Lightning callbacks."""
from .keep_best import KeepBestWeights

__all__ = ["KeepBestWeights"]
