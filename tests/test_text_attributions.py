"""Text attributions on a random-init tiny BERT (2 layers, dim 64): completeness, Captum,
shapes and padding, batch == singles, rollout conservation, gradients w.r.t. parameters."""
from __future__ import annotations

import pytest
import torch
from captum.attr import LayerIntegratedGradients
from torch import nn

from priors.attributions import available_methods, get_method
from priors.attributions.text._embed import baseline_embeds, forward_embeds
from priors.attributions.text.relevance import attention_forward, rollout_steps
from priors.core.tokens import TokenBatch
from text_models import tiny_bert, token_batch

TARGET = torch.tensor([0, 1, 1])
TEXT_METHODS = available_methods(requires_embeddings=True)
DETERMINISTIC = [m for m in TEXT_METHODS if not get_method(m).stochastic]


def call(name, model, tokens, target=TARGET, **kw):
    spec = get_method(name)
    return spec(model, tokens, target if spec.uses_target else None, **kw)


def test_registry_lists_the_text_methods():
    assert {"text_grad", "text_ixg", "text_rrr", "text_ig", "text_eg", "text_smoothgrad",
            "text_raw_attention", "text_rollout",
            "text_gradient_weighted_attention"} <= set(TEXT_METHODS)


@pytest.mark.parametrize("baseline", ["pad", "mask", "zero"])
def test_ig_completeness_float64(baseline):
    model, tokens = tiny_bert(), token_batch()
    scores = call("text_ig", model, tokens, n_steps=64, baseline_token=baseline)
    embeds = model.get_input_embeddings()(tokens.input_ids)
    base = baseline_embeds(model, tokens, embeds, baseline, "test")
    with torch.no_grad():
        f = model(tokens).gather(1, TARGET[:, None])[:, 0]
        f0 = forward_embeds(model, base, tokens).gather(1, TARGET[:, None])[:, 0]
    gap = (scores.sum(1) - (f - f0)).abs().max().item()
    assert gap < 1e-6, gap
    assert (f - f0).abs().min() > 1e-4  # the check is not trivially 0 == 0


def test_generic_ig_on_tokens_equals_captum_layer_ig():
    model, tokens = tiny_bert(), token_batch()
    ours = call("ig", model, tokens, n_steps=32)  # the generic name runs text_ig on tokens
    baseline_ids = torch.where(tokens.scored(), torch.zeros_like(tokens.input_ids),
                               tokens.input_ids)

    def forward(ids, mask):
        return model.hf(input_ids=ids, attention_mask=mask).logits

    lig = LayerIntegratedGradients(forward, model.hf.bert.embeddings.word_embeddings)
    theirs = lig.attribute(tokens.input_ids, baselines=baseline_ids, target=TARGET,
                           additional_forward_args=(tokens.attention_mask,), n_steps=32,
                           method="gausslegendre").sum(-1)
    torch.testing.assert_close(ours, theirs, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", TEXT_METHODS)
def test_scores_are_batch_by_tokens_with_zeros_off_tokens(name):
    model, tokens = tiny_bert(), token_batch()
    kw = {"n_steps": 8} if name == "text_ig" else {"n_samples": 3} if "smooth" in name else {}
    scores = call(name, model, tokens, **kw)
    assert scores.shape == tokens.shape
    off = ~tokens.scored()
    assert bool((scores[off] == 0).all())
    assert scores[~off].abs().sum() > 0


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_batch_equals_singles_without_their_padding(name):
    model, tokens = tiny_bert(), token_batch()
    kw = {"n_steps": 8} if name == "text_ig" else {}
    batch = call(name, model, tokens, **kw)
    for i, n in enumerate(tokens.attention_mask.sum(1).tolist()):
        single = TokenBatch(tokens.input_ids[i:i + 1, :n], tokens.attention_mask[i:i + 1, :n],
                            special_tokens_mask=tokens.special_tokens_mask[i:i + 1, :n])
        alone = call(name, model, single, TARGET[i:i + 1], **kw)
        torch.testing.assert_close(batch[i, :n], alone[0], rtol=1e-7, atol=1e-10)


def test_rollout_conserves_the_cls_relevance_at_every_layer():
    model, tokens = tiny_bert(), token_batch()
    _, attentions = attention_forward(model, tokens, "test")
    steps = rollout_steps(attentions, tokens.attention_mask.double())
    assert len(steps) == 2
    for joint in steps:  # each row of the product of row-stochastic matrices sums to 1
        sums = (joint * tokens.attention_mask[:, None, :]).sum(-1)[:, 0]
        torch.testing.assert_close(sums, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)


class _Penalized(nn.Module):
    """Sum of squared scores of a text method, a function of the model's parameters."""

    def __init__(self, model, name, **kw):
        super().__init__()
        self.model, self.name, self.kw = model, name, kw

    def forward(self, tokens):
        return call(self.name, self.model, tokens, TARGET[:len(tokens)], create_graph=True,
                    **self.kw).pow(2).sum()


@pytest.mark.parametrize("name,kw", [("text_ixg", {}), ("text_rrr", {}),
                                     ("text_ig", {"n_steps": 3}),
                                     ("text_gradient_weighted_attention", {})])
def test_create_graph_gradients_pass_gradcheck(name, kw):
    model = tiny_bert(hidden=8, layers=1)
    tokens = token_batch(lengths=(5, 3), width=5)
    wrapper = _Penalized(model, name, **kw)
    names = ["model.hf.classifier.weight", "model.hf.bert.encoder.layer.0.attention.self.query.weight"]
    params = dict(wrapper.named_parameters())
    chosen = tuple(params[n].detach().clone().requires_grad_() for n in names)

    def fn(*values):
        return torch.func.functional_call(wrapper, dict(zip(names, values)), (tokens,))

    assert torch.autograd.gradcheck(fn, chosen, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("architecture", ["distilbert", "roberta"])
def test_other_encoders_complete(architecture):
    # (BERT's own init scale: at 0.3 DistilBERT is too curved for 64 quadrature points)
    model, tokens = tiny_bert(architecture=architecture, init=0.02), token_batch()
    scores = call("text_ig", model, tokens, n_steps=64)
    embeds = model.get_input_embeddings()(tokens.input_ids)
    base = baseline_embeds(model, tokens, embeds, "pad", "test")
    with torch.no_grad():
        gap = model(tokens).gather(1, TARGET[:, None])[:, 0] - forward_embeds(
            model, base, tokens).gather(1, TARGET[:, None])[:, 0]
    assert (scores.sum(1) - gap).abs().max() < 1e-6
