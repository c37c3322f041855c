"""The compiled kernels compute what the whole-array numpy/scipy expressions they replace compute."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import ndimage

from sim import kernels


def _points(rng, n, layers, H, W):
    return (rng.integers(0, layers, n), rng.integers(0, H, n), rng.integers(0, W, n), rng.uniform(1, 200, n))


def _grid(layer, rows, cols, weights, shape):
    out = np.zeros(shape)
    np.add.at(out, (layer, rows, cols), weights)
    return out


@pytest.mark.parametrize("sigma", [0.7, 2.0, 3.5])
@pytest.mark.parametrize("shape", [(4, 20, 30), (3, 7, 5)])  # the small grid is narrower than the kernel
def test_stamp_gaussian_equals_gaussian_filter(sigma, shape):
    rng = np.random.default_rng(1)
    layer, rows, cols, w = _points(rng, 40, shape[0], shape[1], shape[2])
    out = np.zeros(shape)
    kernels.stamp_gaussian(out, layer, rows, cols, w, kernels.gaussian_weights(sigma))
    expected = ndimage.gaussian_filter(_grid(layer, rows, cols, w, shape), sigma=(0, sigma, sigma), truncate=3.0)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


def test_gaussian_weights_match_scipy():
    impulse = np.zeros(41)
    impulse[20] = 1.0
    k = kernels.gaussian_weights(2.3)
    r = (len(k) - 1) // 2
    np.testing.assert_allclose(k, ndimage.gaussian_filter1d(impulse, 2.3, truncate=3.0)[20 - r:21 + r])


def test_stamp_double_box_equals_two_uniform_filters():
    rng = np.random.default_rng(2)
    shape = (3, 25, 18)
    layer, rows, cols, w = _points(rng, 30, *shape)
    out = np.zeros(shape)
    kernels.stamp_double_box(out, layer, rows, cols, w, 4)
    once = ndimage.uniform_filter(_grid(layer, rows, cols, w, shape), size=(1, 9, 9), mode="constant")
    expected = ndimage.uniform_filter(once, size=(1, 9, 9), mode="constant") * 81
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-9)


def test_window_count_equals_uniform_filter():
    rng = np.random.default_rng(3)
    mask = rng.random((15, 22)) < 0.3
    rows, cols = rng.integers(0, 15, 50), rng.integers(0, 22, 50)
    expected = ndimage.uniform_filter(mask.astype(float), size=5, mode="constant")[rows, cols] * 25
    np.testing.assert_allclose(kernels.window_count(mask, rows, cols, 2), expected, atol=1e-9)


def _communities(rng, E=4, N=60, regions=2):
    # as in the model, a community is one ethnic group in one region: two groups never share one
    C = E * regions
    region = rng.integers(0, regions, N)
    comm_id = np.where(rng.random((E, N)) < 0.6, np.arange(E)[:, None] * regions + region[None, :], -1).astype(np.int32)
    pop = rng.uniform(0, 1000, (E, N))
    e_idx, cells = np.nonzero(comm_id >= 0)
    residents = sp.csr_matrix((pop[e_idx, cells], (comm_id[e_idx, cells], cells)), shape=(C, N))
    residents.sum_duplicates()
    residents.sort_indices()
    order = np.lexsort((e_idx, cells))
    cell_ptr = np.searchsorted(cells[order], np.arange(N + 1))
    return comm_id, pop, residents, cell_ptr, e_idx[order], comm_id[e_idx[order], cells[order]]


def test_community_exposure_equals_sparse_product():
    rng = np.random.default_rng(4)
    comm_id, pop, R, cell_ptr, group, comm = _communities(rng)
    share = rng.random((5, pop.shape[1]))
    share[3] = 0.0  # an all-zero layer, skipped
    live = share.any(axis=1)
    pop_c = np.maximum(np.asarray(R.sum(axis=1)).ravel(), 1.0)
    out = kernels.community_exposure(cell_ptr, group, comm, pop, share, live, pop_c, R.shape[0])
    np.testing.assert_allclose(out, (R @ share.T) / pop_c[:, None], rtol=1e-12)


def test_cell_means_equal_sparse_product():
    rng = np.random.default_rng(5)
    comm_id, pop, R, cell_ptr, group, comm = _communities(rng)
    sympathy = rng.random((R.shape[0], 6))
    sympathy[:, 2] = 0.0  # an actor nobody sympathises with
    informing = rng.random(R.shape[0])
    out, intel = np.full((6, pop.shape[1]), 9.0), np.full(pop.shape[1], 9.0)  # stale values must be cleared
    kernels.cell_means(cell_ptr, group, comm, pop, sympathy, informing, sympathy.any(axis=0), out, intel)
    cell_pop = np.maximum(pop.sum(axis=0), 1.0)
    np.testing.assert_allclose(out, (R.T @ sympathy).T / cell_pop, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(intel, (R.T @ informing) / cell_pop, rtol=1e-12, atol=1e-15)


def test_community_totals_follow_population():
    rng = np.random.default_rng(6)
    comm_id, pop, R, *_ = _communities(rng)
    totals, counted = np.full(R.shape[0], 9.0), np.zeros_like(pop)  # stale totals must be cleared
    kernels.community_totals(pop, comm_id, totals, counted)
    np.testing.assert_allclose(totals, np.asarray(R.sum(axis=1)).ravel())
    np.testing.assert_array_equal(counted, pop)


def test_region_totals_equal_bincount():
    rng = np.random.default_rng(7)
    pop, region = rng.uniform(0, 1000, (5, 60)), rng.integers(0, 4, 60)
    for groups in ([2], [4, 0, 3]):
        expected = np.bincount(region, pop[groups].sum(axis=0), minlength=6)
        np.testing.assert_array_equal(kernels.region_totals(pop, np.array(groups), region, 6), expected)


def test_flee_equals_array_expression():
    rng = np.random.default_rng(9)
    E, N, regions = 4, 60, 3
    region = rng.integers(0, regions, N)
    comm_id = np.where(rng.random((E, N)) < 0.6, np.arange(E)[:, None] * regions + region[None, :], -1).astype(np.int32)
    pop = rng.uniform(0, 1000, (E, N))
    pop[0, :5] = 0.0  # empty cells move nobody
    fear = rng.random(E * regions)
    fear[1] = 0.0
    danger = np.where(rng.random(N) < 0.5, 0.0, rng.uniform(0, 30, N))  # most cells have seen no violence
    frac = np.where(comm_id >= 0, np.clip(0.4 * fear[np.maximum(comm_id, 0)] * (0.3 + 1 - np.exp(-danger / 10)), 0, 0.5), 0)
    moved = pop * frac
    out, counted = pop.copy(), np.empty_like(pop)
    by_region, total = kernels.flee(out, comm_id, fear, danger, 0.4, region, regions, counted)
    np.testing.assert_allclose(out, pop - moved, rtol=1e-12)
    np.testing.assert_array_equal(counted, out)
    expected = np.zeros((E, regions))
    np.add.at(expected, (np.repeat(np.arange(E), N), np.tile(region, E)), moved.ravel())
    np.testing.assert_allclose(by_region, expected, rtol=1e-12)
    assert np.isclose(total, moved.sum(), rtol=1e-12)


def test_pair_overlaps():
    rng = np.random.default_rng(7)
    share = rng.random((4, 50))
    share[2] = 0.0
    first, second = np.array([0, 0, 1, 2]), np.array([1, 2, 3, 3])
    expected = [np.minimum(share[i], share[j]).sum() / np.maximum(share[i], share[j]).sum() for i, j in zip(first, second)]
    expected[3] = 0.0 if np.maximum(share[2], share[3]).sum() <= 1e-9 else expected[3]
    np.testing.assert_allclose(kernels.pair_overlaps(share, first, second), expected)
    assert kernels.pair_overlaps(np.zeros((2, 5)), np.array([0]), np.array([1]))[0] == 0.0


def test_pair_overlaps_any_number_of_pairs():
    rng = np.random.default_rng(8)
    share = rng.random((6, 70)) * (rng.random((6, 70)) < 0.5)
    share[4] = 0.0
    for P in range(10):
        first, second = rng.integers(0, 6, P), rng.integers(0, 6, P)
        big = np.maximum(share[first], share[second]).sum(axis=1)
        small = np.minimum(share[first], share[second]).sum(axis=1)
        expected = np.where(big > 1e-9, small / np.where(big > 1e-9, big, 1.0), 0.0)
        np.testing.assert_allclose(kernels.pair_overlaps(share, first, second), expected, rtol=1e-12)


def test_neighbour_pairs_finds_adjacent_enemies_only():
    rows, cols = np.array([5, 6, 5, 9, 5]), np.array([5, 6, 7, 9, 4])
    actor = np.array([0, 1, 1, 1, 0])
    can_fight = np.array([[False, True], [True, False]])
    seeks = np.array([True, True, True, True, False])  # unit 4 (a partner, say) never seeks
    first, second, dr, dc = kernels.neighbour_pairs(rows, cols, actor, can_fight, seeks)
    pairs = set(zip(first.tolist(), second.tolist()))
    # 0-1 diagonal neighbours, 2 is two columns from 0, 3 is far, 4 sits next to 0 but is its own side
    assert pairs == {(0, 1), (1, 0)}  # 1 and 4 are two columns apart
    assert all(abs(d) <= 1 for d in np.r_[dr, dc])


def test_influence_and_control_classifies_cells():
    # three actors on four cells: a clear leader, a contested cell, a weak cell, and an all-zero layer
    A, N = 3, 4
    smoothed = np.array([[4.0, 2.0, 0.2, 0.0], [0.0, 1.9, 0.1, 0.0], [0.0, 0.0, 0.0, 0.0]])
    influence = smoothed.copy()  # at equilibrium, so relaxation leaves it unchanged
    eff, share = np.empty((A, N)), np.empty((A, N))
    control, contested, leader = np.empty(N, np.int8), np.empty(N, bool), np.empty(N, np.int8)
    held = np.ones(A, bool)
    kernels.influence_and_control(
        influence, smoothed, np.zeros((0, N)), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64),
        np.zeros(N, np.int64), 0.5, np.zeros((0, N)), 1.0, np.zeros(N, bool), 0, np.zeros(A, bool), 1.0,
        1.5, 0.3, eff, share, control, contested, leader, held)
    assert held.tolist() == influence.any(axis=1).tolist() == [True, True, False]
    assert control.tolist() == [0, -1, -1, -1]
    assert contested.tolist() == [False, True, False, False]
    np.testing.assert_allclose(share[:, 0], [4.0 / 5.5, 0.0, 0.0])
    np.testing.assert_allclose(share.sum(axis=0), smoothed.sum(axis=0) / (smoothed.sum(axis=0) + 1.5))


def test_next_clash_draws_as_generator_random():
    from sim.draws import uniform_source

    for seed in range(50):
        g = np.random.default_rng(seed)
        n_units, n_pairs = int(g.integers(2, 30)), int(g.integers(0, 80))
        first, second = g.integers(0, n_units, n_pairs), g.integers(0, n_units, n_pairs)
        men = np.where(g.random(n_units) < 0.2, 0, g.integers(1, 400, n_units))
        by_size = g.random(n_pairs) < 0.7
        grow = 1.0 - np.exp(-0.4 * np.arange(men.max() + 1) / 100.0)
        pair_ops, fixed = g.random(n_pairs), g.random(n_pairs) * 0.3
        ours, numpys = np.random.default_rng(seed + 1000), np.random.default_rng(seed + 1000)
        start = int(g.integers(0, n_pairs + 1))
        k = kernels.next_clash(*uniform_source(ours), start, first, second, men, by_size, grow, pair_ops, fixed)
        expected = n_pairs
        for p in range(start, n_pairs):  # the loop it replaces
            men_u, men_v = men[first[p]], men[second[p]]
            if men_u <= 0 or men_v <= 0:
                continue
            hazard = grow[min(men_u, men_v)] * pair_ops[p] if by_size[p] else fixed[p]
            if numpys.random() < hazard:
                expected = p
                break
        assert k == expected
        assert ours.bit_generator.state == numpys.bit_generator.state
        assert ours.random() == numpys.random()  # and the generator goes on from the same place


def test_community_cells_draw_as_choice():
    rng = np.random.default_rng(12)
    E, N, A, C = 3, 200, 4, 6
    counted, share = rng.uniform(0, 1e3, (E, N)) * (rng.random((E, N)) < 0.7), rng.random((A, N))
    share[3] = 0.0
    comm_group = rng.integers(0, E, C)
    comm_cells = rng.permutation(N)
    comm_ptr = np.concatenate(([0], np.sort(rng.choice(np.arange(1, N), C - 1, replace=False)), [N]))
    comm, actor, u = rng.integers(0, C, 40), rng.integers(0, A, 40), rng.random(40)
    got = kernels.community_cells(comm_ptr, comm_cells, comm_group, counted, share, comm, actor, u)
    for k in range(40):
        cells = comm_cells[comm_ptr[comm[k]]:comm_ptr[comm[k] + 1]]
        weights = counted[comm_group[comm[k]], cells] * share[actor[k], cells]
        if weights.sum() <= 0:
            assert got[k] == -1
            continue
        cdf = weights.cumsum()
        assert got[k] == cells[(cdf / cdf[-1]).searchsorted(u[k], side="right")]
    assert (got[actor == 3] == -1).all()


def test_control_totals_equal_bincounts():
    rng = np.random.default_rng(11)
    E, N, A = 13, 500, 7
    pop = rng.uniform(0, 1e4, (E, N)) * (rng.random((E, N)) < 0.4)
    area, control = rng.uniform(50, 150, N), rng.integers(-1, A, N)
    got_area, got_ruled = kernels.control_totals(control, area, pop, A)
    # the same sums in the same order, so equal to the last bit
    np.testing.assert_array_equal(got_area, np.bincount(control + 1, weights=area, minlength=A + 1)[1:])
    np.testing.assert_array_equal(got_ruled, np.bincount(control + 1, weights=pop.sum(axis=0), minlength=A + 1)[1:])
