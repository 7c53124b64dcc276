"""Which of a model's outputs are the logits: tensors, tuples/lists, dicts, Hugging Face
``ModelOutput``s.

Models return their logits in many containers: a tensor (most), a tuple or list (timm's DeiT in
distilled training, models with auxiliary heads), a dict or a ``transformers`` ``ModelOutput``
(an ``OrderedDict`` with attribute access, logits under ``"logits"``). :func:`select_logits`
picks one tensor:

* ``output=None`` (default): a tensor is returned as is; a mapping or an object with a
  ``logits`` attribute gives ``logits``; a mapping without one gives its only tensor value; a
  tuple or list gives its first element;
* ``output="<key>"`` picks that key of a mapping (or attribute), ``output=<int>`` that element
  of a tuple or list.

Anything ambiguous (a dict of several tensors and no ``logits``) raises a ``ValueError`` that
lists the choices. :class:`Logits` wraps a model so that it returns the selected tensor, for
code that calls ``model(x)`` and expects one (e.g. a Captum attribution object).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

from torch import Tensor, nn

Output = Optional[Union[str, int]]


def _pick_mapping(outputs: Mapping, output: Output) -> Any:
    keys = list(outputs.keys())
    if output is not None:
        if output not in outputs:
            raise ValueError(f"output={output!r} is not among the model's outputs {keys}")
        return outputs[output]
    if "logits" in outputs:
        return outputs["logits"]
    tensors = [k for k in keys if isinstance(outputs[k], Tensor)]
    if len(tensors) == 1:
        return outputs[tensors[0]]
    raise ValueError(f"the model returns a mapping with keys {keys} and no 'logits': it is "
                     f"ambiguous which one to attribute; pass output=<one of {tensors}>")


def select_logits(outputs: Any, output: Output = None) -> Tensor:
    """The logits among a model's ``outputs`` (see the module docstring for the rules)."""
    if isinstance(outputs, Tensor) and output is None:
        return outputs
    if isinstance(outputs, Mapping):
        picked = _pick_mapping(outputs, output)
    elif isinstance(outputs, (tuple, list)):
        if output is None:
            output = 0
        if isinstance(output, bool) or not isinstance(output, int):
            raise ValueError(f"the model returns a {type(outputs).__name__}: output must be an "
                             f"element index, got {output!r}")
        if not -len(outputs) <= output < len(outputs):
            raise ValueError(f"output={output} is out of range for the model's "
                             f"{len(outputs)} outputs")
        picked = outputs[output]
    elif isinstance(output, str) and hasattr(outputs, output):
        picked = getattr(outputs, output)
    elif output is None and isinstance(getattr(outputs, "logits", None), Tensor):
        picked = outputs.logits
    else:
        raise ValueError(f"cannot select output={output!r} from a model output of type "
                         f"{type(outputs).__name__}; expected a tensor, a tuple/list, a dict "
                         "or a ModelOutput")
    if not isinstance(picked, Tensor):
        raise ValueError(f"the selected model output (output={output!r}) is a "
                         f"{type(picked).__name__}, not a tensor of logits")
    return picked


class Logits(nn.Module):
    """``model`` returning only its selected logits (``select_logits(model(x), output)``)."""

    def __init__(self, model: nn.Module, output: Output = None):
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        return select_logits(self.model(*args, **kwargs), self.output)


def logits_model(model: nn.Module, output: Output = None) -> nn.Module:
    """``model`` itself when no ``output`` is chosen (outputs are then selected by the default
    rule wherever they are read), else a :class:`Logits` wrapper."""
    return model if output is None else Logits(model, output)
