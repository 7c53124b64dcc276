"""Default Grad-CAM layers of well-known CNN families (torchvision's, as they come).

The last ``nn.Conv2d`` is the right Grad-CAM layer of a plain conv stack, but not of a ResNet
(its last convolution's output is pre-BatchNorm and pre-residual) or of families whose last
stage ends in normalization and activation modules. For those the layer is the output of the
last convolutional stage, as in Selvaraju et al.'s use of the last convolutional feature maps
(Grad-CAM, ICCV 2017, https://arxiv.org/abs/1610.02391):

* ResNet / ResNeXt / Wide ResNet (``layer4``: the last residual stage after its ReLU);
* AlexNet, VGG, EfficientNet, ConvNeXt, MobileNet, DenseNet, RegNet-free ``features`` stacks
  (``features``: the whole feature extractor's output).
"""
from __future__ import annotations

from typing import Optional

from torch import nn

# torchvision class name -> the dotted name of its Grad-CAM layer.
_DEFAULTS = {"ResNet": "layer4", "AlexNet": "features", "VGG": "features",
             "EfficientNet": "features", "ConvNeXt": "features", "MobileNetV2": "features",
             "MobileNetV3": "features", "DenseNet": "features"}


def default_cam_layer(model: nn.Module) -> Optional[str]:
    """The Grad-CAM layer of a torchvision CNN family, or ``None`` for other models."""
    if not type(model).__module__.startswith("torchvision."):
        return None
    name = _DEFAULTS.get(type(model).__name__)
    if name is None:
        return None
    try:
        model.get_submodule(name)
    except AttributeError:
        return None
    return name
