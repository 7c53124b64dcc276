"""Start an X-model from torchvision's AlexNet / VGG-16 weights (biases dropped).

:class:`~priors.models.XAlexNet` and :class:`~priors.models.XVGG16` have torchvision's
``alexnet`` / ``vgg16`` layer layout without biases, so a torchvision ``state_dict`` (a
checkpoint of the user's, or ``torchvision.models.vgg16(weights=...)``'s) loads into them once
the biases are dropped and the classifier indices are shifted by one (the X-models flatten
inside ``classifier``). **Dropping the biases changes the network's function**: its accuracy
differs (usually drops) until it is fine-tuned, e.g. with the X-Gradient prior itself
(Hesse, Schaub-Meyer and Roth, "Fast Axiomatic Attribution for Neural Networks", NeurIPS 2021,
https://arxiv.org/abs/2111.07668, fine-tune their X-DNNs after removing the biases). A
``UserWarning`` says so and how many biases went.
"""
from __future__ import annotations

import re
import warnings
from typing import Dict, List, Mapping

from torch import Tensor, nn

from .xalexnet import XAlexNet
from .xvgg import XVGG16

BIAS_NOTE = ("biases dropped: the X-model computes a different function than the torchvision "
             "network, and its accuracy changes until it is fine-tuned")


def _shift_classifier(key: str) -> str:
    match = re.fullmatch(r"classifier\.(\d+)\.(weight)", key)
    return f"classifier.{int(match.group(1)) + 1}.weight" if match else key


def load_torchvision_weights(model: nn.Module, state_dict: Mapping[str, Tensor],
                             warn: bool = True) -> List[str]:
    """Load a torchvision ``alexnet`` / ``vgg16`` ``state_dict`` into an :class:`XAlexNet` /
    :class:`XVGG16` (``strict``: every weight must fit); returns the dropped bias keys."""
    if not isinstance(model, (XAlexNet, XVGG16)):
        raise TypeError(f"load_torchvision_weights fills an XAlexNet or XVGG16, got "
                        f"{type(model).__name__}")
    dropped = [k for k in state_dict if k.endswith(".bias")]
    weights: Dict[str, Tensor] = {_shift_classifier(k): v for k, v in state_dict.items()
                                  if not k.endswith(".bias")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise ValueError(f"the state_dict does not fit this {type(model).__name__} (a "
                         f"torchvision {'alexnet' if isinstance(model, XAlexNet) else 'vgg16'} "
                         f"checkpoint with width=1.0, matching num_classes and hidden is "
                         f"expected): {err}") from None
    if warn and dropped:
        warnings.warn(f"load_torchvision_weights: {len(dropped)} {BIAS_NOTE}", UserWarning,
                      stacklevel=2)
    return dropped
