"""A tiny ImageNet-style class-folder tree of real image files, for data and experiment tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as sample_images

# scikit-image's bundled RGB photographs (no download), one class each.
CLASSES = ("astronaut", "chelsea", "coffee")


def make_image_folder(root: Path, n_train: int = 4, n_val: int = 2, crop: int = 96,
                      seed: int = 0) -> Path:
    """Write ``root/{train,val}/<class>/*.{jpg,png}``: random crops of varying size of each
    class's photograph (JPEG in train, PNG in val). Returns ``root``."""
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        photo = getattr(sample_images, name)()
        h, w = photo.shape[:2]
        for split, n, ext in (("train", n_train, "jpg"), ("val", n_val, "png")):
            folder = Path(root) / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                side = int(rng.integers(crop // 2, crop + 1))
                top, left = rng.integers(0, h - side), rng.integers(0, w - side)
                patch = photo[top:top + side, left:left + side]
                Image.fromarray(patch).save(folder / f"{name}_{i}.{ext}")
    return Path(root)
