"""Random draws the model makes often enough that numpy's argument checks cost more than the draw."""

from __future__ import annotations

import numpy as np


def choice_index(rng: np.random.Generator, p: np.ndarray) -> int:
    """The index ``rng.choice(len(p), p=p)`` draws, from the same single uniform, for probabilities
    the caller knows are valid (non-negative, summing to 1); numpy's checks of ``p`` take most of
    the ~20 us that call costs. tests/test_draws.py holds it to ``Generator.choice``."""
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))
