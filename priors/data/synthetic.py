"""Small synthetic tabular classification data with known relevant features.

Meant for fast tests and demos of attribution priors: only the first ``n_relevant`` features
influence the label, so an attribution method (or a prior that encourages sparse
attributions) can be checked against ``relevant_mask``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from priors.data.arguments import check_fraction, check_int
from priors.data.contract import TASKS
from priors.data.tabular import TabularDataModule

__all__ = ["SyntheticTabularDataModule"]


class SyntheticTabularDataModule(TabularDataModule):
    """Gaussian features, label from a (noisy) linear function of the first ``n_relevant``.

    ``x ~ N(0, I)`` with shape ``(n_samples, n_features)``. For ``task="binary"``,
    ``y = 1[x[:, :n_relevant] @ w + noise * e > 0]`` (float32 0/1), with ``w`` drawn once per
    seed with random signs and magnitudes in [0.5, 1.5] (so every relevant feature matters)
    and ``e ~ N(0, 1)``. For ``task="multiclass"``, ``y = argmax_c(x[:, :n_relevant] @ W[:, c]
    + noise * e_c)`` (int64) with ``W ~ N(0, 1)`` of shape ``(n_relevant, num_classes)``.
    Everything (data, weights, split, training-loader shuffling) is determined by ``seed``.
    The features are used as drawn (no imputation or standardization); the split is an
    unstratified random one. Loaders and accessors come from
    :class:`~priors.data.tabular.TabularDataModule`.

    Exposes ``train_dataset`` / ``val_dataset`` / ``test_dataset`` (``TensorDataset(x, y)``),
    ``num_features``, ``feature_names`` (``x0``, ``x1``, ...), ``task``, ``num_classes`` (1 for
    binary, else the number of classes), ``relevant_mask`` (bool tensor, True for the first
    ``n_relevant`` features), ``weights`` (the true ``w`` or ``W`` as a float32 tensor) and
    ``train_idx`` / ``val_idx`` / ``test_idx``. ``batch_size`` None or <= 0 means full batch.

    >>> dm = SyntheticTabularDataModule(n_samples=100, n_features=5, n_relevant=2)
    >>> len(dm.train_dataset), dm.num_features, dm.relevant_mask.tolist()
    (60, 5, [True, True, False, False, False])
    """

    # The known answer here is ``relevant_mask``; no permuted copies are appended.
    irrelevant_mask = None

    def __init__(
        self,
        n_samples: int = 1000,
        n_features: int = 20,
        n_relevant: int = 4,
        task: str = "binary",
        num_classes: int = 2,
        noise: float = 0.1,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        batch_size: int | None = 64,
        seed: int = 0,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        n_samples = check_int("n_samples", n_samples, 3)
        n_features = check_int("n_features", n_features, 1)
        n_relevant = check_int("n_relevant", n_relevant, 1)
        if n_relevant > n_features:
            raise ValueError(f"n_relevant ({n_relevant}) must be <= n_features ({n_features})")
        num_classes = check_int("num_classes", num_classes, 1)
        if task == "binary" and num_classes not in (1, 2):
            raise ValueError(f"task='binary' needs num_classes 1 or 2, got {num_classes}")
        if task == "multiclass" and num_classes < 2:
            raise ValueError(f"task='multiclass' needs num_classes >= 2, got {num_classes}")
        noise = float(noise)
        if not noise >= 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        val_fraction = check_fraction("val_fraction", val_fraction)
        test_fraction = check_fraction("test_fraction", test_fraction)
        n_val = int(round(val_fraction * n_samples))
        n_test = int(round(test_fraction * n_samples))
        if min(n_val, n_test) < 1 or n_val + n_test >= n_samples:
            raise ValueError(
                f"val_fraction={val_fraction} and test_fraction={test_fraction} of "
                f"n_samples={n_samples} must leave non-empty train, val and test splits"
            )
        super().__init__(
            val_fraction=val_fraction, test_fraction=test_fraction, standardize=False,
            batch_size=batch_size, seed=seed, task=task,
            num_classes=num_classes if task == "multiclass" else None,
        )
        self.save_hyperparameters()
        self.noise = noise

        # One generator in a fixed order (data, weights, noise, split): a seed gives one dataset.
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((n_samples, n_features))
        relevant = x[:, :n_relevant]
        if task == "binary":
            w = rng.choice([-1.0, 1.0], size=n_relevant) * rng.uniform(0.5, 1.5, size=n_relevant)
            logit = relevant @ w + noise * rng.standard_normal(n_samples)
            y = (logit > 0).astype(np.int64)
        else:
            w = rng.standard_normal((n_relevant, num_classes))
            logits = relevant @ w + noise * rng.standard_normal((n_samples, num_classes))
            y = logits.argmax(axis=1).astype(np.int64)
        perm = rng.permutation(n_samples)
        self._split = (np.sort(perm[n_val + n_test :]), np.sort(perm[:n_val]),
                       np.sort(perm[n_val : n_val + n_test]))
        names = [f"x{i}" for i in range(n_features)]
        self._table = (pd.DataFrame(x, columns=names), y)
        self.relevant_mask = torch.zeros(n_features, dtype=torch.bool)
        self.relevant_mask[:n_relevant] = True
        self.weights = torch.from_numpy(np.asarray(w, dtype=np.float32))

    def load(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The generated table (drawn in ``__init__``: cheap and deterministic)."""
        return self._table

    def split_indices(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The unstratified random split drawn with the data."""
        return self._split
