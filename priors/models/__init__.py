"""Models: MLPs, bias-free X-DNN variants and a Vision Transformer."""
from .mlp import MLP
from .xalexnet import XAlexNet
from .xresnet import XResNet50
from .vit import ViT
from .xvgg import XVGG16
from .torchvision_weights import load_torchvision_weights

__all__ = ["MLP", "ViT", "XAlexNet", "XResNet50", "XVGG16", "load_torchvision_weights"]
