"""The dense counting kernel's LAPACK route (zgetrf for sectors D >= LAPACK_MIN_D) against facts it did
not produce: the kernel's own LU route; scipy's OpenBLAS thread count is left as it was found.  (Against
the 50-digit Drazin formulas on the same generator: test_counting's oscillator test, over both routes.)"""

from __future__ import annotations

import numpy as np
import pytest

import qtmsweep
from qtmsweep.physics import counting_kernel as ck


def test_lapack_and_own_lu_routes_agree_on_the_boson_chain_and_threads_are_restored(monkeypatch):
    """N = 2 local oscillators, n_max = 3 (sector D = 20 and, for the truncation estimate, 35): both
    factorisations within their bounds of each other, and OpenBLAS's thread count unchanged after."""
    lib = ck._scipy_openblas()
    if lib is None:  # pragma: no cover
        pytest.skip("no bundled OpenBLAS")
    before = lib[0]()
    p = dict(N=2, stat="boson", approach="local", n_max=3, omega=1.0, g=np.array([0.01, 0.04]),
             T_L=np.array([0.5, 0.8]), T_R=0.3, gamma_L=0.01, gamma_R=0.02)
    own = qtmsweep.solve("chain", cumulants=3, **p)
    monkeypatch.setattr(ck, "LAPACK_MIN_D", 1)
    lap = qtmsweep.solve("chain", cumulants=3, **p)
    assert lib[0]() == before
    S0, S1 = own.S.values, lap.S.values
    tol = (own.S_rel_err.values + lap.S_rel_err.values)
    diag = np.einsum("...ff->...f", S0)
    assert np.all(np.abs(np.einsum("...ff->...f", S1) - diag) <= tol * np.abs(diag) + 1e-300)
    np.testing.assert_allclose(S1, S0, rtol=1e-10, atol=1e-14 * np.abs(S0).max())
    np.testing.assert_allclose(lap.c3.values, own.c3.values, rtol=1e-9, atol=1e-13 * np.abs(own.c3.values).max())
