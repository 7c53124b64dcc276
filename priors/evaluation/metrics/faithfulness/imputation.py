"""Noisy linear imputation of removed pixels (Rong et al. 2022), batched in torch.

Each removed pixel takes the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct
neighbours, 1/12 for the diagonal ones; neighbours outside the image drop out), with the
removed neighbours themselves unknowns: a sparse symmetric positive definite linear system
``L v = b`` per image and channel (a graph Laplacian restricted to the removed pixels). Rong et
al. (and Quantus) solve it with a sparse direct solver, one image at a time; here it is solved
for a whole batch at once by conjugate gradients with a Jacobi preconditioner, the operator
applied as shifted slices, so time and memory grow with the batch, not with a factorization.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

def _neighbours(z: Tensor) -> Tensor:
    """Weighted sum of each pixel's in-image neighbours (1/6 direct, 1/12 diagonal),
    ``(M, 1, H, W)`` -> same. Shifted slices of the zero-padded map: in float64 on CPU
    about 2.5x faster than the equivalent 3x3 ``conv2d``."""
    p = F.pad(z, (1, 1, 1, 1))
    h, w = z.shape[-2:]

    def at(i: int, j: int) -> Tensor:
        return p[..., i:i + h, j:j + w]

    return ((at(0, 1) + at(2, 1) + at(1, 0) + at(1, 2)) / 6
            + (at(0, 0) + at(0, 2) + at(2, 0) + at(2, 2)) / 12)


def linear_imputation(x: Tensor, removed: Tensor, tol: float = 1e-10,
                      max_iter: Optional[int] = None) -> Tensor:
    """``x`` ``(N, C, H, W)`` with the pixels where ``removed`` ``(N, H, W)`` (bool) replaced
    by the solution of the neighbour-mean equations; float64 inside, ``x``'s dtype out.

    ``tol``: CG stops when every system's residual norm is below ``tol`` times its right-hand
    side's norm (or after ``max_iter``, default ``4 * (H + W) + 50``, iterations)."""
    if x.dim() != 4 or removed.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"linear_imputation needs images (N, C, H, W) and a removal mask "
                         f"(N, H, W); got {tuple(x.shape)} and {tuple(removed.shape)}")
    n, c, h, w = x.shape
    z = x.detach().double().reshape(n * c, 1, h, w)
    u = removed.to(x.device).repeat_interleave(c, 0).view(n * c, 1, h, w).double()
    known = 1.0 - u
    degree = _neighbours(torch.ones(1, 1, h, w, dtype=torch.float64, device=x.device))

    def apply(v: Tensor) -> Tensor:  # L v on the removed pixels (zero elsewhere)
        return u * (degree * v - _neighbours(u * v))

    b = u * _neighbours(known * z)
    inv_diag = u / degree
    v = inv_diag * b  # Jacobi start: each pixel the mean of its known neighbours
    r = b - apply(v)
    p = inv_diag * r
    rz = (r * p).sum((1, 2, 3))
    b_norm = b.flatten(1).norm(dim=1).clamp_min(1e-300)
    for _ in range(max_iter or 4 * (h + w) + 50):
        if bool((r.flatten(1).norm(dim=1) <= tol * b_norm).all()):
            break
        q = apply(p)
        pq = (p * q).sum((1, 2, 3))
        alpha = torch.where(pq > 0, rz / pq.clamp_min(1e-300), torch.zeros_like(pq))
        v = v + alpha.view(-1, 1, 1, 1) * p
        r = r - alpha.view(-1, 1, 1, 1) * q
        s = inv_diag * r
        rz_new = (r * s).sum((1, 2, 3))
        beta = torch.where(rz > 0, rz_new / rz.clamp_min(1e-300), torch.zeros_like(rz))
        p = s + beta.view(-1, 1, 1, 1) * p
        rz = rz_new
    out = known * z + u * v
    return out.view(n, c, h, w).to(x.dtype)


def noisy_linear_imputation(x: Tensor, removed: Tensor, noise: float = 0.01,
                            generator: Optional[torch.Generator] = None) -> Tensor:
    """:func:`linear_imputation` plus Gaussian noise of std ``noise`` on the imputed values
    (Rong et al. 2022, Sec. 4: the noise hides the imputation's smoothness, which a model could
    otherwise read as a class-independent cue)."""
    out = linear_imputation(x, removed)
    if noise:
        eps = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(x.device)
        mask = removed.unsqueeze(1).expand_as(x)
        out = torch.where(mask, out + (noise * eps).to(out.dtype), out)
    return out
