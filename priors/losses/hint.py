"""HINT: a ranking loss aligning Grad-CAM importance with human importance."""
from __future__ import annotations

from torch import Tensor

from .annotations import fit_mask
from .layers import Layer, layer_attribution, postprocess
from .registry import register


def ranking_loss(network: Tensor, human: Tensor, margin: float = 0.0) -> Tensor:
    r"""Per-example HINT ranking loss of importances ``(B, n)``:

    .. math:: L_b = \frac{1}{|P_b|}\sum_{(i,j)\in P_b} \max(0,\; g_{b,j} - g_{b,i} + m),
              \qquad P_b = \{(i, j) : h_{b,i} > h_{b,j}\},

    0 where no pair is ordered (``P_b`` empty), and 0 with ``margin`` m = 0 exactly when the
    network orders every human-ordered pair the same way (ties allowed)."""
    g, h = network.flatten(1), human.flatten(1).to(network)
    ordered = (h.unsqueeze(2) > h.unsqueeze(1)).to(g)  # [b, i, j]: h_i > h_j
    violation = (g.unsqueeze(1) - g.unsqueeze(2) + margin).clamp(min=0)  # g_j - g_i + m
    pairs = ordered.sum((1, 2))
    return (violation * ordered).sum((1, 2)) / pairs.clamp(min=1)


@register("hint", annotations="right", uses_layer=True, requires_conv=True,
          attribution="grad_cam")
def hint(model, inputs: Tensor, target=None, annotations: Tensor = None,
         create_graph: bool = True, layer: Layer = "final", margin: float = 0.0,
         normalize: str = "max") -> Tensor:
    r"""Human Importance-aware Network Tuning: the network's Grad-CAM importance :math:`g` of each
    cell of the layer's grid must be ranked like the human importance :math:`h` (the share of
    the cell the relevant-region mask covers):

    .. math:: L_b = \frac{1}{|P_b|}\sum_{(i,j)\in P_b} \max(0,\; g_{b,j} - g_{b,i} + m),
              \qquad P_b = \{(i, j) : h_{b,i} > h_{b,j}\}

    (:func:`ranking_loss`).

    Selvaraju, Lee, Shen, Jin, Ghosh, Heck, Batra and Parikh, "Taking a HINT: Leveraging
    Explanations to Make Vision and Language Models More Grounded", ICCV 2019,
    https://arxiv.org/abs/1902.03751 (their regions are object proposals; here the cells of the
    guided layer, which needs no detector).

    Args:
        layer: guided layer (``"final"``, ``"mid"``, ``"input"``, a name).
        margin: hinge margin (0 in the paper's ranking loss).
        normalize: Grad-CAM normalization per example (``"max"``, ``"sum"``, ``None``).
    """
    cam = postprocess(layer_attribution(model, inputs, target, layer, "grad_cam", create_graph),
                      clip=True, normalize=normalize)
    return ranking_loss(cam, fit_mask(annotations, cam).expand_as(cam), margin)
