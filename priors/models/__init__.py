"""Models: MLPs, bias-free X-DNN variants and a Vision Transformer."""
from .mlp import MLP
from .xalexnet import XAlexNet
from .xresnet import XResNet50
from .vit import ViT
from .xvgg import XVGG16
from .hf_text import TextClassifier, hf_text_classifier
from .torchvision_weights import load_torchvision_weights

__all__ = ["MLP", "TextClassifier", "ViT", "XAlexNet", "XResNet50", "XVGG16",
           "hf_text_classifier", "load_torchvision_weights"]
