"""Nested-grid boundary helpers: flagged cells, refinement nodes, filled fields, marching squares."""

from __future__ import annotations

import numpy as np
import pytest

from qtmsweep.thermo.boundary import (UNDETERMINED, boundary_cells, boundary_segments, dilate, fill_levels, flag_cells,
                                      refine_nodes, upsample_linear, upsample_nearest)


def disk(n: int, r: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-0.5, 0.5, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    return np.where(X ** 2 + Y ** 2 < r ** 2, 1, -1).astype(np.int8), x


def test_flagged_cells_are_exactly_the_cells_a_circle_crosses():
    lab, x = disk(65)
    flagged = flag_cells(lab)
    c = 0.5 * (x[:-1] + x[1:])
    h = x[1] - x[0]
    R = np.hypot(*np.meshgrid(c, c, indexing="ij"))
    assert flagged[np.abs(R - 0.3) > h].sum() == 0  # far from the circle: never flagged
    assert flagged[np.abs(R - 0.3) < 0.2 * h].all()  # on it: always


def test_an_undetermined_corner_flags_its_four_cells_and_only_them():
    lab = np.ones((5, 5), np.int8)
    lab[2, 2] = UNDETERMINED
    f = flag_cells(lab)
    assert f.sum() == 4 and f[1:3, 1:3].all()
    assert not flag_cells(np.stack([np.ones((5, 5), np.int8)] * 2)).any()
    assert flag_cells(np.stack([np.ones((5, 5), np.int8), lab])).sum() == 4  # any field flags


def test_refine_nodes_cover_each_flagged_cell_with_its_nine_fine_nodes():
    rng = np.random.default_rng(3)
    cells = rng.random((6, 7)) < 0.2
    nodes = refine_nodes(cells)
    assert nodes.shape == (13, 15)
    expect = np.zeros_like(nodes)
    for i, j in zip(*np.nonzero(cells)):
        expect[2 * i:2 * i + 3, 2 * j:2 * j + 3] = True
    np.testing.assert_array_equal(nodes, expect)


def test_dilate_is_chebyshev_distance():
    m = np.zeros((9, 9), bool)
    m[4, 4] = True
    i, j = np.indices(m.shape)
    for d in range(4):
        np.testing.assert_array_equal(dilate(m, d), np.maximum(abs(i - 4), abs(j - 4)) <= d)


def test_linear_upsampling_is_exact_for_bilinear_functions_and_nearest_keeps_the_coarse_nodes():
    x = np.linspace(0, 1, 9)
    X, Y = np.meshgrid(x, x, indexing="ij")
    f = lambda a, b: 1 + 2 * a - 3 * b + 5 * a * b  # noqa: E731
    xf = np.linspace(0, 1, 17)
    Xf, Yf = np.meshgrid(xf, xf, indexing="ij")
    np.testing.assert_allclose(upsample_linear(f(X, Y)), f(Xf, Yf), rtol=0, atol=1e-14)
    lab = np.arange(81).reshape(9, 9)
    np.testing.assert_array_equal(upsample_nearest(lab)[::2, ::2], lab)


def test_filled_levels_equal_the_dense_field_when_refined_around_every_boundary():
    dense, _ = disk(129)
    levels = [dense[::4, ::4]]
    evaluated = [np.ones_like(levels[0], bool)]
    for k, s in ((1, 2), (2, 1)):
        filled = fill_levels(levels, evaluated)
        nodes = refine_nodes(dilate(flag_cells(filled), 1))
        levels.append(np.where(nodes, dense[::s, ::s], 0).astype(np.int8))
        evaluated.append(nodes)
    np.testing.assert_array_equal(fill_levels(levels, evaluated), dense)
    assert evaluated[2].mean() < 0.5
    with pytest.raises(ValueError, match="level 0 must be evaluated"):
        fill_levels([levels[0]], [np.zeros_like(evaluated[0])])


def test_marching_squares_segments_lie_on_the_circle_within_half_a_cell_and_close_it():
    lab, x = disk(257)
    seg = boundary_segments(lab, x, x)
    h = x[1] - x[0]
    r = np.hypot(seg[..., 0], seg[..., 1])
    assert np.abs(r - 0.3).max() < h
    length = np.hypot(*(seg[:, 1] - seg[:, 0]).T).sum()
    assert abs(length / (2 * np.pi * 0.3) - 1) < 0.1  # a closed curve of the circle's length
    ends = np.round(seg.reshape(-1, 2) / h * 2).astype(int)
    _, counts = np.unique(ends, axis=0, return_counts=True)
    assert (counts == 2).all()  # every end shared by two segments: closed
    assert boundary_cells(lab).sum() == len(seg)  # one segment per crossed cell


def _refine_synthetic(label, base: int, levels: int, halo: int = 1):
    """The refinement loop of qtmsweep.sweep.refine on an analytic label field label(x, y) over [0, 1]^2."""
    n = (base - 1) * 2 ** levels + 1
    x = np.linspace(0.0, 1.0, n)
    values, evaluated = [], []
    for k in range(levels + 1):
        xs = x[:: 2 ** (levels - k)]
        X, Y = np.meshgrid(xs, xs, indexing="ij")
        if k == 0:
            nodes = np.ones(X.shape, bool)
        else:
            nodes = refine_nodes(dilate(flag_cells(fill_levels(values, evaluated)), halo))
        values.append(np.where(nodes, label(X, Y), 0).astype(np.int8))
        evaluated.append(nodes)
    X, Y = np.meshgrid(x, x, indexing="ij")
    return fill_levels(values, evaluated), label(X, Y).astype(np.int8), evaluated


def _islands(radius: float):
    centres = [(0.3, 0.3), (0.71, 0.62)]

    def label(X, Y):
        inside = np.zeros(X.shape, bool)
        for cx, cy in centres:
            inside |= (X - cx) ** 2 + (Y - cy) ** 2 < radius ** 2
        return np.where(inside, 1, -1)
    return label


def test_islands_wider_than_a_base_cell_are_found_and_refined_exactly():
    # base 9: cells of 1/8; islands of diameter 0.3 > 1/8 each hold or straddle base nodes
    filled, dense, evaluated = _refine_synthetic(_islands(0.15), base=9, levels=4)
    np.testing.assert_array_equal(filled, dense)
    assert evaluated[-1].mean() < 0.35  # and the finest level evaluated only a band around them


def test_an_island_between_the_base_nodes_is_missed_which_is_why_min_base_bounds_the_base_grid():
    # islands of diameter 0.06 < 1/8 centred between base nodes: no base cell sees them ...
    filled, dense, _ = _refine_synthetic(_islands(0.03), base=9, levels=4)
    assert (dense == 1).any() and not (filled == 1).any()
    # ... a base grid whose cells are narrower than the islands finds both of them
    filled, dense, _ = _refine_synthetic(_islands(0.03), base=33, levels=2)
    np.testing.assert_array_equal(filled, dense)
