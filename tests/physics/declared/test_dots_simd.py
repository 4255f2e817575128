"""The vectorised declared-dots kernel against the reference kernel (:mod:`.dots_kernel`).

The two share a formulation but not their arithmetic (vector ``exp``/``log`` of 1–3 ulp, FMA
contraction, another elimination order), so they must agree within the sum of their own
per-component bounds; cells the fast path hands back must be the reference's, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtmsweep.physics.declared import build_model
from qtmsweep.physics.declared.dots import _solve_fused
from qtmsweep.physics.declared.dots_simd import BLOCK, dots_simd_kernel, solve_dots

from .specs import ANDERSON_SPEC, CQD_SPEC, TRIPLE_SPEC
from .test_dots import dot_systems

CURRENTS = ("J_E", "J_N", "J_Q", "sigma_micro")


def _values(model, n, seed, force=None):
    """Random cells; with ``force``, every lead within ``force`` of lead 0's T and mu."""
    rng = np.random.default_rng(seed)
    v = {p.name: {"temperature": rng.uniform(0.1, 3, n), "chemical_potential": rng.uniform(-2, 2, n),
                  "rate": rng.uniform(0.05, 2, n), "energy": rng.uniform(-3, 3, n)}[p.kind]
         for p in model.parameters}
    if force is not None:
        T0, mu0 = (next(v[p.name] for p in model.parameters if p.kind == kind) for kind in ("temperature", "chemical_potential"))
        for p in model.parameters:
            if p.kind == "temperature":
                v[p.name] = T0 * (1 + force * rng.uniform(-1, 1, n))
            if p.kind == "chemical_potential":
                v[p.name] = mu0 + force * rng.uniform(-1, 1, n)
    return v


def _both(model, values):
    full = model.with_constants(values)
    args = (model.kernel, full, len(model.leads), len(model.states), 0, model.force_flux)
    return _solve_fused(*args, kernel_method="simd"), _solve_fused(*args, kernel_method="reference")


def _assert_within_both_bounds(fast, ref):
    np.testing.assert_allclose(fast.p, ref.p, rtol=1e-12, atol=1e-300)
    for name in CURRENTS:
        a, b = np.asarray(getattr(fast, name)), np.asarray(getattr(ref, name))
        ea, eb = fast.abs_err[name], ref.abs_err[name]
        assert np.all(np.isfinite(a) == np.isfinite(b)), name
        assert np.all(np.abs(a - b) <= ea + eb), (name, np.max(np.abs(a - b) - (ea + eb)))
        # where the reference resolves a value, the fast kernel's bound is of the same size (it is
        # not bought by looser bounds); a value that is rounding noise (an exact 0 computed as
        # ~1e-32) has bounds of the noise's size in both, in no fixed ratio
        resolved = (eb > 0) & (eb < 0.5 * np.abs(b))
        assert np.all(ea[resolved] <= 4 * eb[resolved]), name
    # a sign claimed by one kernel is the other's sign
    for name in ("J_E", "J_N", "J_Q"):
        a, b = np.asarray(getattr(fast, name)), np.asarray(getattr(ref, name))
        sure = (np.broadcast_to(fast.rel_err, a.shape) < 0.5) & (np.broadcast_to(ref.rel_err, b.shape) < 0.5)
        assert np.all(np.sign(a[sure]) == np.sign(b[sure])), name


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=dot_systems(), seed=st.integers(0, 2**31), force=st.sampled_from([None, 1e-3, 1e-8, 1e-12]))
def test_fast_kernel_agrees_with_the_reference_within_both_bounds_on_random_systems(spec, seed, force):
    m = build_model("simd_prop", spec)
    fast, ref = _both(m, _values(m, 3 * BLOCK + 5, seed, force))
    _assert_within_both_bounds(fast, ref)


@pytest.mark.parametrize("spec", [CQD_SPEC, ANDERSON_SPEC, TRIPLE_SPEC], ids=["cqd", "anderson", "triple"])
@pytest.mark.parametrize("n", [1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 3])
def test_every_cell_of_a_partial_last_block_is_written_and_right(spec, n):
    m = build_model("simd_n", spec)
    fast, ref = _both(m, _values(m, n, 11))
    assert fast.p.shape == ref.p.shape == (n, len(m.states))
    _assert_within_both_bounds(fast, ref)


def test_cells_beyond_the_fast_path_are_the_reference_bit_for_bit():
    """|x| > 700 (the vector exp flushes there) and zero pivots (an unreachable state) go back to the
    reference kernel: those cells carry its bits; their neighbours in the block stay on the fast path."""
    m = build_model("simd_redo", TRIPLE_SPEC)
    v = _values(m, 2 * BLOCK, 3)
    cold = [5, 70]
    for p in m.parameters:
        if p.kind == "temperature":
            v[p.name][cold] = 1e-3  # |x| ~ 1e3
    dead = [9]
    for p in m.parameters:
        if p.kind == "rate":
            v[p.name][dead] = 0.0  # no rate at all: every pivot 0, the reference's NaN cell
    fast, ref = _both(m, v)
    full = m.with_constants(v)
    flagged = np.zeros(2 * BLOCK, dtype=np.uint8)
    rows, outputs = _kernel_io(m, full)
    dots_simd_kernel(*rows, *outputs, flagged, 2)
    assert set(np.flatnonzero(flagged)) >= set(cold + dead)
    for name in ("p", *CURRENTS, "rel_err"):
        a, b = np.asarray(getattr(fast, name)), np.asarray(getattr(ref, name))
        for c in cold + dead:
            assert np.array_equal(a[c], b[c], equal_nan=True), (name, c)
    assert np.all(np.isnan(fast.p[dead]))
    others = np.setdiff1d(np.arange(2 * BLOCK), np.flatnonzero(flagged))
    assert others.size >= 2 * BLOCK - 6
    np.testing.assert_allclose(fast.p[others], ref.p[others], rtol=1e-12)


def _kernel_io(m, full):
    """The kernel's input tuple and fresh outputs for ``full`` (as ``_solve_fused`` lays them out)."""
    K = m.kernel
    n = np.size(next(v for v in full.values() if np.ndim(v)))
    rows = []
    for key in ("eps", "U", "T", "mu", "gamma"):
        names = K["rows"][key]
        out = np.empty((max(len(names), 1), n))
        for r, name in enumerate(names):
            out[r] = full[name]
        rows.append(out)
    structure = tuple(K[key] for key in ("occ", "pair_i", "pair_j", "charge", "e_src", "e_dst", "e_ch", "e_orb",
                                         "e_rep", "ep_ptr", "ep_idx", "ch_lead", "ch_orb", "ch_single"))
    d, NL = len(m.states), len(m.leads)
    outputs = (np.empty((n, d)), *(np.empty((n, NL)) for _ in range(6)), np.empty(n), np.empty(n),
               np.empty((n, NL)), np.empty(n), np.empty(n))
    return (*rows, *structure, NL), outputs


def test_the_result_does_not_depend_on_the_number_of_threads():
    m = build_model("simd_threads", ANDERSON_SPEC)
    full = m.with_constants(_values(m, 7 * BLOCK + 9, 21))
    results = []
    for threads in (1, 2, 5):
        rows, outputs = _kernel_io(m, full)
        flagged = np.zeros(outputs[0].shape[0], dtype=np.uint8)
        dots_simd_kernel(*rows, *outputs, flagged, threads)
        results.append(outputs)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b, equal_nan=True)


def test_unknown_kernel_method_is_refused_naming_the_choices():
    m = build_model("simd_method", CQD_SPEC)
    rows, outputs = _kernel_io(m, m.with_constants(_values(m, 4, 0)))
    with pytest.raises(ValueError, match="method='fast'.*'simd' or 'reference'"):
        solve_dots(rows, outputs, "fast")
    assert solve_dots(rows, outputs, "reference") == 4
