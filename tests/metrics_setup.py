"""Shared test setup for the metric tests: a small CNN on scikit-learn's digits (16x16),
trained briefly, with gradient attributions and digit masks."""
import functools

import torch

from priors.attributions import attribute
from priors.data.decoy_digits import load_upsampled_digits
from priors.models.small_cnn import SmallCNN


@functools.lru_cache(maxsize=1)
def digits_setup(n: int = 32):
    torch.manual_seed(0)
    x, y = load_upsampled_digits(16)
    model = SmallCNN(1, 10, 16)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for i in range(0, 1024, 64):  # one short epoch: the model is better than chance
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64]).backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    xs, ys = x[1500:1500 + n].clone(), y[1500:1500 + n].clone()
    attr = attribute("grad", model, xs, ys) * xs  # gradient x input: signed, continuous
    masks = xs > 0.3
    return model, xs, ys, attr.detach(), masks
