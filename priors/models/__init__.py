"""Models: MLPs and bias-free X-DNN variants."""
from .mlp import MLP

__all__ = ["MLP"]
