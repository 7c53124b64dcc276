"""RRR on Grad-CAM (Schramowski et al. 2020), guided at a chosen layer (Rao et al. 2023)."""
from __future__ import annotations

from torch import Tensor

from .annotations import fit_mask
from .layers import Layer, layer_attribution, per_example_sum, postprocess
from .registry import register


@register("rrr_gradcam", annotations="wrong", uses_layer=True, requires_conv=True,
          attribution="grad_cam")
def rrr_gradcam(model, inputs: Tensor, target=None, annotations: Tensor = None,
                create_graph: bool = True, layer: Layer = "final", normalize: str = "max",
                clip: bool = True) -> Tensor:
    r"""Right for the Right Reasons on Grad-CAM maps:

    .. math:: L_b = \sum_{ij} \big(M_{b,ij}\, \hat L_{b,ij}\big)^2,\qquad
              \hat L_b = \frac{\mathrm{ReLU}(\sum_k \alpha_k A^k)}{\max_{ij} |\cdot|},

    with :math:`M` the irrelevant-region mask on the layer's grid (the share of each cell it
    covers) and :math:`\alpha_k` the spatially averaged gradients of the label's logit.

    Schramowski, Stammer, Teso et al., "Making deep neural networks right for the right
    scientific reasons by interacting with their explanations", Nature Machine Intelligence 2020,
    https://arxiv.org/abs/2001.05371 (the RRR loss of Ross et al. 2017 with Grad-CAM in place of
    the input gradient, normalized); guidance layer as in Rao et al., ICCV 2023.

    Args:
        layer: ``"final"`` (last conv, default), ``"mid"``, ``"input"`` or a module name.
        normalize: ``"max"`` (default), ``"sum"`` or ``None``; clip: ReLU the map (Grad-CAM).
    """
    cam = postprocess(layer_attribution(model, inputs, target, layer, "grad_cam", create_graph),
                      clip=clip, normalize=normalize)
    return per_example_sum((fit_mask(annotations, cam) * cam).pow(2))
