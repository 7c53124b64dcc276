"""OmegaConf resolvers that let configs ask the attribution-method registry.

``${priors.model_bias:${prior.method}}`` is ``false`` when the prior's method needs an X-DNN
(a bias-free network), ``true`` otherwise; ``conf/model/mlp.yaml`` uses it, so that
``python train.py prior=xg`` trains the bias-free X-MLP without the prior config choosing the
model, and an unknown method fails with the registry's list of choices.
"""
from __future__ import annotations

from omegaconf import OmegaConf

from ..attributions import get_method


def model_bias(method: object = None) -> bool:
    if method in (None, "none", "None"):
        return True
    from ..losses.registry import is_loss  # lazy: the losses import the prior
    if is_loss(method):  # explanation losses train ordinary (biased) models
        return True
    return not get_method(str(method)).requires_xdnn


def run_node(run_dir: str, key: str, updates=None, _parent_=None):
    """``${priors.run_node:<run dir>,<key>[,<updates>]}``: a node of a trained run's config
    (experiment=roar; see priors.evaluation.roar_data.run_node)."""
    from ..evaluation.roar_data import run_node as _run_node  # lazy: evaluation imports pipeline
    return _run_node(run_dir, key, updates, _parent_)


def register_resolvers() -> None:
    """Register ``priors.model_bias`` and ``priors.run_node`` (once; the entry points and the
    pipeline call this, so that ``import priors`` has no OmegaConf side effect)."""
    if not OmegaConf.has_resolver("priors.model_bias"):
        OmegaConf.register_new_resolver("priors.model_bias", model_bias)
    if not OmegaConf.has_resolver("priors.run_node"):
        OmegaConf.register_new_resolver("priors.run_node", run_node)

