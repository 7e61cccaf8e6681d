"""Offline image data for the Poisson VAE; nothing is downloaded.

* :func:`load_digits`: scikit-learn's bundled handwritten digits, 1,797 images of 8×8 pixels
  with integer intensities 0–16 (a natural Poisson target), with labels.
* :func:`load_patches`: 16×16 grey patches of the photographs bundled with scikit-image
  (grass, gravel, brick, camera, astronaut, coffee, chelsea, rocket), ZCA-whitened with the
  training patches' statistics: the offline counterpart of the paper's van Hateren patches.
  Cached as ``.npz`` under ``$POISSONGRAD_CACHE`` (default ``~/.cache/poissongrad``).

Both need the optional ``data`` extra (scikit-learn, scikit-image). Splits are deterministic.

Examples
--------
>>> digits = load_digits()
>>> digits.x_train.shape, digits.counts
((1438, 64), True)
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poissongrad.utils.atomic import atomic_path

__all__ = ["ImageData", "load_digits", "load_patches", "load_dataset", "DATASETS"]

PATCH_IMAGES = ("grass", "gravel", "brick", "camera", "astronaut", "coffee", "chelsea", "rocket")


@dataclass(frozen=True)
class ImageData:
    """A train/validation split of flattened images.

    Attributes:
        x_train, x_val: float32 arrays (n, D), D = side².
        y_train, y_val: int64 labels (n,), or None for unlabelled data.
        side: image side in pixels.
        counts: whether the values are non-negative integers (for a Poisson observation model).
        name: dataset name.
    """

    x_train: np.ndarray
    x_val: np.ndarray
    y_train: np.ndarray | None
    y_val: np.ndarray | None
    side: int
    counts: bool
    name: str


def _split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return order[n_val:], order[:n_val]


def load_digits(val_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """scikit-learn's 8×8 digits as counts 0–16: 1,438 train / 359 validation images."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    train, val = _split(len(x), val_fraction, seed)
    return ImageData(x[train], x[val], y[train], y[val], 8, True, "digits")


def _cache_dir() -> Path:
    return Path(os.environ.get("POISSONGRAD_CACHE", Path.home() / ".cache" / "poissongrad"))


def _grey_images() -> list[np.ndarray]:
    import skimage.data
    from skimage.color import rgb2gray

    images = []
    for name in PATCH_IMAGES:
        im = getattr(skimage.data, name)()
        im = rgb2gray(im) if im.ndim == 3 else im.astype(np.float64) / 255.0
        images.append(np.asarray(im, dtype=np.float64))
    return images


def _sample_patches(n: int, side: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = _grey_images()
    which = rng.integers(len(images), size=n)
    out = np.empty((n, side * side))
    for i, im in enumerate(images):  # vectorised over the patches of each image
        idx = np.flatnonzero(which == i)
        rows = rng.integers(im.shape[0] - side + 1, size=idx.size)
        cols = rng.integers(im.shape[1] - side + 1, size=idx.size)
        grid = np.arange(side)
        patch = im[
            rows[:, None, None] + grid[None, :, None], cols[:, None, None] + grid[None, None, :]
        ]
        out[idx] = patch.reshape(idx.size, -1)
    return out


def load_patches(
    n: int = 20_000, side: int = 16, val_fraction: float = 0.1, seed: int = 0, cache: bool = True
) -> ImageData:
    """ZCA-whitened grey patches from scikit-image's bundled photographs.

    Each patch has its mean removed; the ZCA matrix (C + εI)^(-1/2), ε = 1e-2 × the mean
    eigenvalue of the patch covariance C, is fit on the training patches only, and the result is
    scaled to unit variance per pixel on average. Shapes: (n·(1 − val_fraction), side²) and
    (n·val_fraction, side²), float32.
    """
    path = _cache_dir() / f"patches_n{n}_s{side}_v{val_fraction}_seed{seed}.npz"
    n_val = int(round(n * val_fraction))
    if cache and path.exists():
        try:
            with np.load(path) as f:
                x_train, x_val = f["x_train"], f["x_val"]
            expected = ((n - n_val, side * side), (n_val, side * side))
            if (x_train.shape, x_val.shape) == expected and np.isfinite(x_train).all():
                return ImageData(x_train, x_val, None, None, side, False, "patches")
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
            pass
        # A corrupt, truncated or foreign entry is rebuilt and replaced (atomically, so a
        # concurrent reader of the old one is not disturbed).
    x = _sample_patches(n, side, seed)
    x -= x.mean(axis=1, keepdims=True)
    train, val = _split(n, val_fraction, seed)
    cov = np.cov(x[train], rowvar=False)
    eigval, eigvec = np.linalg.eigh(cov)
    eps = 1e-2 * eigval.mean()
    zca = eigvec @ np.diag(1.0 / np.sqrt(np.clip(eigval, 0, None) + eps)) @ eigvec.T
    white = x @ zca
    white /= white[train].std()
    data = ImageData(
        white[train].astype(np.float32),
        white[val].astype(np.float32),
        None,
        None,
        side,
        False,
        "patches",
    )
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique temporary name and an atomic replace: several processes building the same
        # entry at once each replace it whole (the contents are identical), none fails.
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, x_train=data.x_train, x_val=data.x_val)
    return data


DATASETS = {"digits": load_digits, "patches": load_patches}


def load_dataset(name: str, seed: int = 0, n: int | None = None) -> ImageData:
    """Load a dataset by name (``"digits"`` or ``"patches"``); ``ValueError`` otherwise.

    ``n`` is the number of patches to cut (patches only; None: the default 20,000).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    if n is None:
        return DATASETS[name](seed=seed)
    if name != "patches":
        raise ValueError(f"n applies to 'patches' only, not {name!r}")
    return load_patches(n=n, seed=seed)
