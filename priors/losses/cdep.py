"""CDEP: penalize the contextual-decomposition importance of the annotated-irrelevant features."""
from __future__ import annotations

from torch import Tensor

from .contextual_decomposition import decompose
from .registry import register

FORMS = ("softmax", "l1")


@register("cdep", annotations="wrong", requires_chain=True, uses_target=False)
def cdep(model, inputs: Tensor, annotations: Tensor = None, form: str = "softmax") -> Tensor:
    r"""Contextual Decomposition Explanation Penalization: with :math:`\beta_c(x)` the part of
    logit :math:`c` due to the annotated-irrelevant features and :math:`\gamma_c(x)` the rest
    (:func:`~priors.losses.contextual_decomposition.decompose`),

    .. math:: L_b = \frac{1}{C}\sum_c \frac{e^{\beta_{b,c}}}{e^{\beta_{b,c}} + e^{\gamma_{b,c}}}
              \quad(\texttt{form="softmax"}),\qquad
              L_b = \sum_c |\beta_{b,c}| \quad(\texttt{form="l1"}),

    the first as in the authors' code for Decoy-MNIST / ColorMNIST, the second the paper's
    :math:`\lVert\beta(x) - 0\rVert_1` (Eq. 2 with an explanation target of zero).

    Rieger, Singh, Murdoch and Yu, "Interpretations are useful: penalizing explanations to align
    neural networks with prior knowledge", ICML 2020, https://arxiv.org/abs/1909.13584.

    Only for chains of Linear / Conv2d / ReLU / pooling / Flatten layers (a clear ``ValueError``
    names any other layer).
    """
    if form not in FORMS:
        raise ValueError(f"cdep: form must be one of {FORMS}, got {form!r}")
    rel, irrel = decompose(model, inputs, annotations)
    rel, irrel = rel.flatten(1), irrel.flatten(1)
    if form == "l1":
        return rel.abs().sum(1)
    return (rel - irrel).sigmoid().mean(1)  # softmax over the pair (rel, irrel), rel's share
