"""The branch-free ``exp``, ``expm1``, ``log`` and ``log1p`` of :mod:`qtmsweep.physics.vecmath` against 200-bit mpmath."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
from numba import njit

from qtmsweep.physics.vecmath import exp_nonpos, expm1_nonpos, expm1_small, log1p_small, log_normal


@njit
def _exp_loop(x, out):
    for i in range(x.size):
        out[i] = exp_nonpos(x[i])


@njit
def _expm1_loop(x, out):
    for i in range(x.size):
        out[i] = expm1_small(x[i])


def _ulps(values, args, fn):
    mp.mp.prec = 200
    worst = 0.0
    for v, a in zip(values, args):
        exact = fn(mp.mpf(float(a)))
        if exact == 0:
            assert v == 0.0
            continue
        worst = max(worst, float(abs(mp.mpf(float(v)) - exact) / np.spacing(abs(float(exact)))))
    return worst


def test_vector_exp_is_within_one_and_a_half_ulp_of_exp_over_its_range():
    rng = np.random.default_rng(1)
    x = np.concatenate([-rng.uniform(0, 708, 1500), -(10.0 ** rng.uniform(-300, 0, 800)),
                        [0.0, -708.0, -np.log(2) / 2, -0.5 * np.log(2) - 1e-12, -1e-320]])
    out = np.empty_like(x)
    _exp_loop(x, out)
    assert _ulps(out, x, mp.exp) <= 1.5


def test_vector_exp_flushes_below_its_range_to_zero():
    x = np.array([-708.5, -745.0, -1e300, -np.inf])
    out = np.empty_like(x)
    _exp_loop(x, out)
    assert np.all(out == 0.0)


def test_vector_expm1_is_within_two_ulp_relative_on_minus_half_to_zero():
    rng = np.random.default_rng(2)
    a = np.concatenate([rng.uniform(-0.5, 0, 1500), -(10.0 ** rng.uniform(-300, -0.31, 800)), [-0.5, 0.0, -5e-324]])
    out = np.empty_like(a)
    _expm1_loop(a, out)
    assert _ulps(out, a, mp.expm1) <= 2.0


@njit
def _log_loop(x, out):
    for i in range(x.size):
        out[i] = log_normal(x[i])


@njit
def _log1p_loop(x, out):
    for i in range(x.size):
        out[i] = log1p_small(x[i])


@njit
def _expm1_nonpos_loop(x, out):
    for i in range(x.size):
        out[i] = expm1_nonpos(x[i])


def test_vector_log_is_within_one_ulp_over_the_normal_range():
    rng = np.random.default_rng(3)
    x = np.concatenate([np.exp(rng.uniform(-708, 709, 1500)), rng.uniform(0.5, 2.0, 800),
                        [np.finfo(float).tiny, 1.0, 2.0, 0.5, math.sqrt(2), np.nextafter(math.sqrt(2), 2),
                         np.nextafter(1.0, 0), np.nextafter(1.0, 2), np.finfo(float).max]])
    out = np.empty_like(x)
    _log_loop(x, out)
    assert _ulps(out, x, mp.log) <= 1.0


def test_vector_log1p_is_within_one_ulp_on_minus_half_to_half():
    rng = np.random.default_rng(4)
    r = np.concatenate([rng.uniform(-0.5, 0.5, 1500), rng.uniform(0.40, 0.5, 300), rng.uniform(-0.5, -0.28, 300),
                        10.0 ** rng.uniform(-300, -0.31, 300), -(10.0 ** rng.uniform(-300, -0.31, 300)),
                        [0.0, -0.5, 0.5, math.sqrt(2) / 2 - 1, np.nextafter(math.sqrt(2) / 2 - 1, 0),
                         math.sqrt(2) - 1, np.nextafter(math.sqrt(2) - 1, 1), 5e-324, -5e-324]])
    out = np.empty_like(r)
    _log1p_loop(r, out)
    assert _ulps(out, r, mp.log1p) <= 1.0


def test_vector_expm1_is_within_three_ulp_for_every_nonpositive_argument():
    rng = np.random.default_rng(5)
    a = np.concatenate([rng.uniform(-3, 0, 1500), -(10.0 ** rng.uniform(-300, 2.8, 800)),
                        [0.0, -0.5, np.nextafter(-0.5, -1), -708.0, -5e-324]])
    out = np.empty_like(a)
    _expm1_nonpos_loop(a, out)
    assert _ulps(out, a, mp.expm1) <= 3.0
    far = np.array([-709.0, -1e300, -np.inf])
    out = np.empty_like(far)
    _expm1_nonpos_loop(far, out)
    assert np.all(out == -1.0)
