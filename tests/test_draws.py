"""sim.draws gives the draws numpy's own methods give and leaves the generator where they do."""

import numpy as np

from sim.draws import choice_index


def test_choice_index_equals_generator_choice():
    for seed in range(300):
        g = np.random.default_rng(seed)
        n = int(g.integers(1, 300))
        w = g.random(n) * (g.random(n) < 0.7) * g.uniform(1, 1e4)  # zeros among the weights, as at empty cells
        w[g.integers(0, n)] += 1.0
        p = w / w.sum()
        ours, numpys = np.random.default_rng(seed + 1000), np.random.default_rng(seed + 1000)
        assert choice_index(ours, p) == numpys.choice(n, p=p)
        assert ours.bit_generator.state == numpys.bit_generator.state


def test_choice_index_with_size_equals_generator_choice():
    for seed in range(100):
        g = np.random.default_rng(seed)
        n, k = int(g.integers(1, 50)), int(g.integers(1, 8))
        w = g.random(n) + 1e-3
        p = w / w.sum()
        ours, numpys = np.random.default_rng(seed + 1000), np.random.default_rng(seed + 1000)
        assert np.array_equal(choice_index(ours, p, k), numpys.choice(n, size=k, p=p))
        assert ours.bit_generator.state == numpys.bit_generator.state
