"""Random draws the model makes often enough that numpy's argument checks cost more than the draw."""

from __future__ import annotations

import ctypes

import numpy as np

from sim import kernels


def choice_index(rng: np.random.Generator, p: np.ndarray, size: int | None = None):
    """The index ``rng.choice(len(p), size, p=p)`` draws (an array of them with ``size``), from the
    same uniforms, for probabilities the caller knows are valid (non-negative, summing to 1);
    numpy's checks of ``p`` take most of the ~20 us that call costs, and a single draw runs
    compiled. tests/test_draws.py holds it to ``Generator.choice``."""
    if size is None:
        return int(kernels.draw_index(*uniform_source(rng), p))
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return cdf.searchsorted(rng.random(size), side="right")


def uniform_source(rng: np.random.Generator) -> tuple[int, int]:
    """Addresses of ``rng``'s bit generator's ``next_double`` and of its state, through numpy's
    documented ctypes interface (``BitGenerator.ctypes``), so a compiled kernel can draw the
    uniforms ``rng.random()`` would, from the same stream: ``Generator.random()`` is that call."""
    bits = rng.bit_generator.ctypes
    return ctypes.cast(bits.next_double, ctypes.c_void_p).value, bits.state_address
