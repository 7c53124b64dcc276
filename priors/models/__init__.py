"""Models: MLPs and bias-free X-DNN variants."""
from .mlp import MLP
from .xalexnet import XAlexNet
from .xresnet import XResNet50
from .xvgg import XVGG16

__all__ = ["MLP", "XAlexNet", "XResNet50", "XVGG16"]
