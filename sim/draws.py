"""Random draws the model makes often enough that numpy's argument checks cost more than the draw."""

from __future__ import annotations

import numpy as np


def choice_index(rng: np.random.Generator, p: np.ndarray, size: int | None = None):
    """The index ``rng.choice(len(p), size, p=p)`` draws (an array of them with ``size``), from the
    same uniforms, for probabilities the caller knows are valid (non-negative, summing to 1);
    numpy's checks of ``p`` take most of the ~20 us that call costs. tests/test_draws.py holds it
    to ``Generator.choice``."""
    cdf = p.cumsum()
    cdf /= cdf[-1]
    if size is None:
        return int(cdf.searchsorted(rng.random(), side="right"))
    return cdf.searchsorted(rng.random(size), side="right")
