"""Boundaries of label fields on nested grids: which cells to refine, filled fields, line segments.

Pure numpy (plus ``contourpy``, which matplotlib depends on, for marching squares); no I/O.
The grids are *nested*: level ``k + 1`` has ``2 n_k - 1`` nodes along each axis, node
``(i, j)`` of level ``k`` being node ``(2i, 2j)`` of level ``k + 1``.  A *label field* is an
integer array on the nodes; :data:`UNDETERMINED` marks a node whose label is not resolved
(a current's sign within its precision bound, an ``undetermined`` regime).

A *cell* is the square between four neighbouring nodes; ``cell (i, j)`` has the corners
``(i, j), (i+1, j), (i, j+1), (i+1, j+1)``.  A cell is *flagged* (to be refined) when its
corners disagree or any corner is undetermined (:func:`flag_cells`).  A cell whose corners all
agree is assumed to hold one label: an island smaller than a cell of the coarsest level with no
node inside can be missed, which is why the base grid must resolve the smallest island
(``refine.min_base`` in the sweep config).

Examples
--------
>>> import numpy as np
>>> lab = np.array([[1, 1, 1], [1, -1, 1], [1, 1, 1]], dtype=np.int8)
>>> flag_cells(lab).astype(int).tolist()
[[1, 1], [1, 1]]
>>> flag_cells(np.ones((3, 3), np.int8)).any()
np.False_
>>> upsample_nearest(np.array([[1, 2], [3, 4]])).tolist()
[[1, 1, 2], [1, 1, 2], [3, 3, 4]]
"""

from __future__ import annotations

import numpy as np

#: Label of a node whose value is not resolved (int8).
UNDETERMINED: int = 127


def flag_cells(labels: np.ndarray, undetermined: int = UNDETERMINED) -> np.ndarray:
    """Cells whose four corners disagree, or touch an undetermined node.

    Parameters
    ----------
    labels : (n1, n2) or (n_fields, n1, n2) integer array
        One or several label fields on the nodes; a cell is flagged if it is flagged in any.

    Returns
    -------
    (n1 - 1, n2 - 1) bool array
    """
    lab = np.asarray(labels)
    if lab.ndim == 2:
        lab = lab[None]
    if lab.ndim != 3 or lab.shape[1] < 2 or lab.shape[2] < 2:
        raise ValueError(f"labels must be (n1, n2) or (n_fields, n1, n2) with n1, n2 >= 2; got shape {lab.shape}")
    c00, c10, c01, c11 = lab[:, :-1, :-1], lab[:, 1:, :-1], lab[:, :-1, 1:], lab[:, 1:, 1:]
    disagree = (c00 != c10) | (c00 != c01) | (c00 != c11)
    undet = (c00 == undetermined) | (c10 == undetermined) | (c01 == undetermined) | (c11 == undetermined)
    return np.any(disagree | undet, axis=0)


def dilate(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    """``mask`` grown by ``steps`` cells in each of the 8 directions (Chebyshev distance).

    >>> m = np.zeros((5, 5), bool); m[2, 2] = True
    >>> int(dilate(m, 1).sum()), int(dilate(m, 2).sum())
    (9, 25)
    """
    out = np.asarray(mask, dtype=bool).copy()
    for _ in range(int(steps)):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        g2 = grown.copy()
        g2[:, 1:] |= grown[:, :-1]
        g2[:, :-1] |= grown[:, 1:]
        out = g2
    return out


def refine_nodes(cells: np.ndarray) -> np.ndarray:
    """Nodes of the next level inside (or on the edge of) the flagged coarse ``cells``.

    Coarse cell ``(i, j)`` covers fine nodes ``2i..2i+2`` x ``2j..2j+2``.

    Parameters
    ----------
    cells : (n1 - 1, n2 - 1) bool array on the coarse level

    Returns
    -------
    (2 n1 - 1, 2 n2 - 1) bool array

    >>> refine_nodes(np.array([[True, False]])).astype(int).tolist()
    [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0]]
    """
    c = np.asarray(cells, dtype=bool)
    fine_cells = np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)  # (2(n1-1), 2(n2-1)) fine cells
    n1, n2 = fine_cells.shape
    nodes = np.zeros((n1 + 1, n2 + 1), dtype=bool)
    nodes[:-1, :-1] |= fine_cells
    nodes[1:, :-1] |= fine_cells
    nodes[:-1, 1:] |= fine_cells
    nodes[1:, 1:] |= fine_cells
    return nodes


def upsample_nearest(coarse: np.ndarray) -> np.ndarray:
    """Coarse node values on the next level's nodes: each fine node takes a corner of its coarse cell.

    Exact on the coarse nodes; inside a cell whose corners agree (the only cells left
    unrefined) every choice of corner gives the same label.
    """
    c = np.asarray(coarse)
    fine = np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)
    return fine[: 2 * c.shape[0] - 1, : 2 * c.shape[1] - 1]


def upsample_linear(coarse: np.ndarray) -> np.ndarray:
    """Coarse node values bilinearly interpolated onto the next level's nodes (exact on coarse nodes).

    >>> upsample_linear(np.array([[0.0, 2.0], [4.0, 6.0]])).tolist()
    [[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [4.0, 5.0, 6.0]]
    """
    c = np.asarray(coarse, dtype=float)
    n1, n2 = c.shape
    fine = np.empty((2 * n1 - 1, 2 * n2 - 1), dtype=float)
    fine[::2, ::2] = c
    fine[1::2, ::2] = 0.5 * (c[:-1] + c[1:])
    fine[:, 1::2] = 0.5 * (fine[:, :-2:2] + fine[:, 2::2])
    return fine


def fill_levels(values: list[np.ndarray], evaluated: list[np.ndarray], *, linear: bool = False) -> np.ndarray:
    """The finest-available field on the finest level's nodes.

    Level 0 must be fully evaluated.  Each level is the previous filled field upsampled
    (nearest corner for labels, bilinear for ``linear=True``) with the level's evaluated
    nodes written over it.

    Parameters
    ----------
    values, evaluated : lists of (n1_k, n2_k) arrays, k = 0..K
        Node values and the boolean masks of the nodes evaluated at each level.
    """
    if not values or len(values) != len(evaluated):
        raise ValueError("values and evaluated must be non-empty lists of the same length")
    if not np.all(evaluated[0]):
        raise ValueError("level 0 must be evaluated at every node")
    filled = np.array(values[0], copy=True)
    for k in range(1, len(values)):
        up = upsample_linear(filled) if linear else upsample_nearest(filled)
        if up.shape != values[k].shape:
            raise ValueError(f"level {k} has shape {values[k].shape}; nested grids need {up.shape}")
        mask = np.asarray(evaluated[k], dtype=bool)
        filled = np.where(mask, values[k], up.astype(values[k].dtype, copy=False) if not linear else up)
    return filled


def boundary_cells(labels: np.ndarray, undetermined: int | None = None) -> np.ndarray:
    """Cells whose corners disagree (``undetermined`` corners ignored if given)."""
    lab = np.asarray(labels)
    c00, c10, c01, c11 = lab[:-1, :-1], lab[1:, :-1], lab[:-1, 1:], lab[1:, 1:]
    out = (c00 != c10) | (c00 != c01) | (c00 != c11)
    if undetermined is not None:
        out &= ~((c00 == undetermined) | (c10 == undetermined) | (c01 == undetermined) | (c11 == undetermined))
    return out


def boundary_segments(labels: np.ndarray, x: np.ndarray, y: np.ndarray, value: int | None = None) -> np.ndarray:
    """The boundary of a label region as line segments (marching squares, ``contourpy``).

    Parameters
    ----------
    labels : (n1, n2) array
        Node labels; dimension 0 runs along ``x``, dimension 1 along ``y``.
    x, y : 1-D arrays of the node coordinates (``len(x) == n1``, ``len(y) == n2``).
    value : int, optional
        Boundary of the region ``labels == value``; default: of ``labels > 0`` (a sign field's
        positive region, a boolean flag's true region).

    Returns
    -------
    (n_segments, 2, 2) float array
        ``seg[s, e] = (x, y)`` of end ``e`` of segment ``s``; each end on a cell edge, halfway
        between the nodes that disagree.

    >>> lab = np.zeros((3, 3), int); lab[1, 1] = 1
    >>> seg = boundary_segments(lab, np.arange(3.0), np.arange(3.0))
    >>> seg.shape, sorted({tuple(p) for p in seg.reshape(-1, 2).tolist()})
    ((4, 2, 2), [(0.5, 1.0), (1.0, 0.5), (1.0, 1.5), (1.5, 1.0)])
    """
    from contourpy import LineType, contour_generator

    lab = np.asarray(labels)
    ind = (lab == value) if value is not None else (lab > 0)
    # contourpy: z[j, i] at (x[i], y[j])
    gen = contour_generator(np.asarray(x, float), np.asarray(y, float), ind.T.astype(float),
                            line_type=LineType.Separate, name="serial", corner_mask=False)
    segs = [np.stack([line[:-1], line[1:]], axis=1) for line in gen.lines(0.5) if len(line) > 1]
    return np.concatenate(segs, axis=0) if segs else np.empty((0, 2, 2))


def cells_within(a: np.ndarray, b: np.ndarray, distance: int = 1) -> np.ndarray:
    """Cells of mask ``a`` with a cell of ``b`` within Chebyshev ``distance`` (both masks on one grid)."""
    return np.asarray(a, bool) & dilate(np.asarray(b, bool), distance)
