"""The dSprites variants of the Locatello et al. 2019 study: ``color_dsprites`` and ``noisy_dsprites``.

As google-research/disentanglement_lib defines them (``data/ground_truth/dsprites.py``, ColorDSprites and
NoisyDSprites): the dSprites grid and sprites, three channels, and a nuisance drawn afresh for every
observation from the sample's random stream:

- ``color_dsprites``: the sprite in one colour per image, each channel uniform in [0.5, 1), on black;
- ``noisy_dsprites``: uniform [0, 1) noise per pixel and channel added and clipped at 1, so sprite pixels
  stay 1 and the background is noise.

Each comes on the real file (``color_dsprites``, ``noisy_dsprites``: the dSprites file) and on the
procedural twin (``*_procedural``). An observation is not a function of its grid point, so these datasets
have no image per grid point (:attr:`GroundTruthDataset.per_observation`): training batches and metric
samples come from :meth:`sample_observations_from_factors`. ``scream_dsprites`` needs the photograph
"The Scream", which the suite cannot ship: it is left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.datasets import register
from benchmark.datasets.base import GroundTruthDataset
from benchmark.datasets.dsprites import FACTOR_NAMES, FACTOR_SIZES, FILE_SPEC, IMAGE_SIZE, DSprites, DSpritesProcedural


class _DSpritesVariant(GroundTruthDataset):
    """The grid of a dSprites dataset (``base``) with a per-observation nuisance (:meth:`_nuisance`)."""

    factor_names = FACTOR_NAMES  # the official grid (what `dbench datasets list` shows); a file's own in __init__
    factor_sizes = FACTOR_SIZES
    observation_shape = (3, IMAGE_SIZE, IMAGE_SIZE)
    pixel_max = 1
    per_observation = True
    nuisance = ""

    def __init__(self, base: GroundTruthDataset):
        self.base = base
        for attr in ("factor_names", "factor_sizes", "factor_values", "class_names", "preview_factors", "source"):
            setattr(self, attr, getattr(base, attr))
        self.path = getattr(base, "path", None)  # the real file, for `dbench datasets check`
        self.title = f"{base.title}, {self.nuisance}"

    def images_uint8(self, indices: np.ndarray) -> np.ndarray:
        raise ValueError(f"{self.name}: every observation draws its own {self.nuisance}, so a grid point has no "
                         "single image; draw observations with sample_observations_from_factors(factors, rng)")

    def sample_observations_from_factors(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Images ``(N, 3, 64, 64)`` float32: the sprites of ``factors`` with the nuisance drawn from ``rng``."""
        sprites = self.base.images(self.factors_to_index(factors))  # (N, 1, 64, 64), 0/1
        return self._nuisance(sprites, rng).astype(np.float32)

    def _nuisance(self, sprites: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {**self.base.describe(), **super().describe(), "nuisance": self.nuisance}


class _Color(_DSpritesVariant):
    nuisance = "sprite colour uniform in [0.5, 1) per channel, per image"

    def _nuisance(self, sprites: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # One colour per image, drawn as the reference draws it: (N, 1, 1, 3) channels-last values.
        colour = rng.uniform(0.5, 1.0, size=(len(sprites), 1, 1, 3)).transpose(0, 3, 1, 2)
        return sprites * colour


class _Noisy(_DSpritesVariant):
    nuisance = "uniform [0, 1) noise per pixel and channel, added and clipped at 1"

    def _nuisance(self, sprites: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # Drawn channels-last (N, 64, 64, 3) like the reference, so a seed gives its pixel layout.
        noise = rng.uniform(0.0, 1.0, size=(len(sprites), IMAGE_SIZE, IMAGE_SIZE, 3)).transpose(0, 3, 1, 2)
        return np.minimum(sprites + noise, 1.0)


@register("color_dsprites")
class ColorDSprites(_Color):
    """``color_dsprites`` on the official dSprites file (``path``: the file or its folder)."""

    name = "color_dsprites"
    FILE_SPEC = FILE_SPEC

    def __init__(self, path: Any = None, progress: bool | None = None):
        super().__init__(DSprites(path, progress))


@register("color_dsprites_procedural")
class ColorDSpritesProcedural(_Color):
    """``color_dsprites`` on the procedural twin (``cache``: as for ``dsprites_procedural``)."""

    name = "color_dsprites_procedural"

    def __init__(self, cache: bool = False, progress: bool | None = None):
        super().__init__(DSpritesProcedural(cache=cache, progress=progress))


@register("noisy_dsprites")
class NoisyDSprites(_Noisy):
    """``noisy_dsprites`` on the official dSprites file (``path``: the file or its folder)."""

    name = "noisy_dsprites"
    FILE_SPEC = FILE_SPEC

    def __init__(self, path: Any = None, progress: bool | None = None):
        super().__init__(DSprites(path, progress))


@register("noisy_dsprites_procedural")
class NoisyDSpritesProcedural(_Noisy):
    """``noisy_dsprites`` on the procedural twin (``cache``: as for ``dsprites_procedural``)."""

    name = "noisy_dsprites_procedural"

    def __init__(self, cache: bool = False, progress: bool | None = None):
        super().__init__(DSpritesProcedural(cache=cache, progress=progress))
