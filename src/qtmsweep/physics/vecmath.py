"""Branch-free ``exp``, ``expm1``, ``log`` and ``log1p`` that LLVM can vectorise inside numba loops.

numba calls libm's scalar ``exp``/``expm1`` through function pointers (this llvmlite has no
SVML), which keeps every loop that uses them scalar.  The functions here are straight-line
arithmetic (Cody–Waite range reduction, Chebyshev-fit polynomials in Horner form, ``2^k`` built
from the exponent bits), so a loop of them compiles to AVX2/AVX-512 code.

Accuracy (measured against 200-bit references in ``tests/physics/test_vecmath.py``):

* :func:`exp_nonpos` — ``exp(x)`` for ``-708 <= x <= 0`` within 1 ulp (0 below -708, i.e.
  results that would be subnormal are flushed: callers treat such cells separately);
* :func:`expm1_small` — ``expm1(a)`` for ``-1/2 <= a <= 0`` within 2 ulp (relative);
* :func:`expm1_nonpos` — ``expm1(a)`` for every ``a <= 0`` within 3 ulp (relative);
* :func:`log_normal` — ``log(x)`` for normal ``x > 0`` within 1 ulp;
* :func:`log1p_small` — ``log1p(r)`` for ``-1/2 <= r <= 1/2`` within 1 ulp.

The logarithms are fdlibm's ``e_log.c`` reduction and polynomial (``x = 2^k m``,
``m ∈ [√2/2, √2]``, ``f = m − 1`` exact, ``log(1 + f)`` from ``s = f/(2 + f)``), with the
mantissa taken from the bits and the branch on ``m > √2`` a select.

Both are ``inline="always"``: they are meant to be called inside a caller's loop.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["exp_nonpos", "expm1_small", "expm1_nonpos", "log_normal", "log1p_small", "EXP_MIN"]

#: Smallest argument of :func:`exp_nonpos` with an accurate (normal) result.
EXP_MIN = -708.0
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_MAGIC = 6755399441055744.0  # 1.5 * 2^52: x + _MAGIC rounds x to an integer held in the low mantissa bits
_ONE_BITS = 1023 << 52


@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (a bitcast, no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, x):
    """The float64 whose IEEE-754 bits are the int64 ``x``."""
    if x != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(cache=True, inline="always", error_model="numpy")
def exp_nonpos(x):
    """``exp(x)`` for ``x <= 0``: within 1 ulp for ``x >= -708``, 0 below (and for ``-inf``).

    ``x = k ln2 + r`` with ``|r| <= ln2/2`` (Cody–Waite, two-part ln 2), ``exp(r)`` from a
    degree-11 Chebyshev fit (fit error 3e-18), ``2^k`` from the exponent bits.
    """
    xc = max(x, EXP_MIN)
    t = xc * _LOG2E + _MAGIC
    kf = t - _MAGIC  # round(x / ln 2), exactly representable
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    q = 2.5110037605963777e-08
    q = q * r + 2.763263963904103e-07
    q = q * r + 2.755724091857897e-06
    q = q * r + 2.4801485482328494e-05
    q = q * r + 0.00019841269890047113
    q = q * r + 0.0013888888952314775
    q = q * r + 0.008333333333319601
    q = q * r + 0.0416666666664881
    q = q * r + 0.1666666666666668
    q = q * r + 0.5000000000000019
    q = q * r + 1.0
    q = q * r + 1.0
    # the low bits of t hold k (two's complement): shifted into the exponent field, plus the bias
    scale = _bits_f64((_f64_bits(t) << 52) + _ONE_BITS)
    y = q * scale
    return y if x >= EXP_MIN else 0.0


@njit(cache=True, inline="always", error_model="numpy")
def expm1_small(a):
    """``expm1(a)`` for ``-1/2 <= a <= 0`` (relative error within 2 ulp).

    ``a + a^2 q(a)`` with ``q`` a degree-9 Chebyshev fit of ``(expm1(a) - a) / a^2``
    (fit error 3e-18).
    """
    q = 2.0367831165025622e-08
    q = q * a + 2.7077661631340097e-07
    q = q * a + 2.7529613436538965e-06
    q = q * a + 2.4800612832459925e-05
    q = q * a + 0.00019841248546681163
    q = q * a + 0.0013888888604959755
    q = q * a + 0.008333333331155702
    q = q * a + 0.04166666666658176
    q = q * a + 0.16666666666666538
    q = q * a + 0.5
    return a + a * (a * q)


@njit(cache=True, inline="always", error_model="numpy")
def expm1_nonpos(a):
    """``expm1(a)`` for ``a <= 0``: :func:`expm1_small` on ``[-1/2, 0]``, ``exp(a) − 1`` below
    (``|expm1(a)| >= 1 − e^{-1/2}`` there, so the subtraction costs at most 2 ulp); ``-1`` below -708."""
    lo = exp_nonpos(a) - 1.0
    hi = expm1_small(max(a, -0.5))
    return hi if a >= -0.5 else lo


_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT2 = 1.4142135623730951
_MANT_MASK = (1 << 52) - 1


@njit(cache=True, inline="always", error_model="numpy")
def _log_reduced(f, k):
    """``k ln 2 + log(1 + f)`` for ``f ∈ [√2/2 − 1, √2 − 1]`` (fdlibm ``e_log.c``, < 1 ulp)."""
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    R = t2 + t1
    return k * _LN2_HI - ((hfsq - (s * (hfsq + R) + k * _LN2_LO)) - f)


@njit(cache=True, inline="always", error_model="numpy")
def log_normal(x):
    """``log(x)`` for a normal ``x > 0`` (callers clamp to ``np.finfo(float).tiny``), within 1 ulp.

    ``x = 2^k m`` from the bits, ``m ∈ [1, 2)`` halved where ``m > √2``.
    """
    bits = _f64_bits(x)
    k = float((bits >> 52) - 1023)
    m = _bits_f64((bits & _MANT_MASK) | _ONE_BITS)
    big = m > _SQRT2
    m = 0.5 * m if big else m
    k = k + 1.0 if big else k
    return _log_reduced(m - 1.0, k)


@njit(cache=True, inline="always", error_model="numpy")
def log1p_small(r):
    """``log1p(r)`` for ``-1/2 <= r <= 1/2``, within 1 ulp.

    ``1 + r ∈ [√2/2, √2]``: ``f = r``, exactly.  Below ``√2/2 − 1``: ``1 + r = 2^{-1} (1 + f)`` with
    ``f = 1 + 2r``, also exact (``2r`` is, and Sterbenz's lemma covers the sum).  Above ``√2 − 1``:
    ``u = 1 + r`` rounded, ``log(u) = ln 2 + log(1 + (u/2 − 1))`` (exact ``f`` again) plus fdlibm's
    correction ``(r − (u − 1))/u`` for the rounding of ``u``.
    """
    low = r < _SQRT2 * 0.5 - 1.0
    high = r > _SQRT2 - 1.0
    u = 1.0 + r
    f = (2.0 * r + 1.0) if low else ((0.5 * u - 1.0) if high else r)
    k = -1.0 if low else (1.0 if high else 0.0)
    cu = (r - (u - 1.0)) / u  # computed everywhere: a select around a division keeps LLVM scalar
    c = cu if high else 0.0
    return _log_reduced(f, k) + c
