"""The ``cqd`` kernel in a form LLVM vectorises (the default; :mod:`.cqd` keeps the reference).

The same Hill cycle-flux formulas, operation for operation, as ``cqd._cqd_kernel``, with two
changes that let the loop compile to SIMD code:

* the transcendentals are :mod:`qtmsweep.physics.vecmath`'s branch-free ``exp``/``expm1``
  (within 1–2 ulp of libm's, which the per-component error bounds already allow for: a rate's
  relative error ``rho`` carries 8 ulp for ``f(x)`` and the bounds are unchanged);
* every branch is a select: both sides are computed and one is kept.

Cells the fast path does not cover — a partition sum or cycle product that may underflow
(the reference redoes those in log space), a reduced energy ``|x| > 700`` (where the fast
``exp`` flushes to 0) or a non-finite intermediate — are flagged and recomputed by the
reference kernel, so for them the result is the reference's, bit for bit.

Inputs are read in place from :class:`~qtmsweep.physics.batch.GridParam` descriptions
(``values[(i // div) % mod]``), gathered block by block into a small scratch buffer: a grid
sweep's axis coordinates are never broadcast to the full grid.  The conservation residuals
``|Σ J| / max |J|`` of ``J_E`` and ``J_N`` are formed in the same pass.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..conservation import residual_of_three
from ..vecmath import exp_nonpos, expm1_small

#: Cells per block: the scratch of one block (35 rows x 64 cells x 8 B = 18 KB) stays in L1
#: (256 cells, 72 KB, spilled to L2: 5% slower at 1e6 cells, one thread).
BLOCK = 64
_EPS = np.finfo(np.float64).eps
_Z_SAFE = 1e-250
_P_SAFE = 1e-280
#: Beyond this |x| a cell goes to the reference kernel (exp_nonpos flushes below -708).
_X_FAST = 700.0


@njit(cache=True, inline="always", error_model="numpy")
def _occ(x):
    e = exp_nonpos(-abs(x))
    r = 1.0 / (1.0 + e)
    er = e * r
    pos = x > 0.0
    return (er if pos else r), (r if pos else er)


@njit(cache=True, inline="always", error_model="numpy")
def _cdiff(pi_plus, pi_minus, affinity):
    """``cqd._cycle_difference`` without branches."""
    aa = abs(affinity)
    em = expm1_small(-min(aa, 0.5))
    small = (-pi_plus if affinity >= 0.0 else pi_minus) * em
    return (pi_plus - pi_minus) if aa >= 0.5 else small


@njit(cache=True, inline="always", error_model="numpy")
def _rat(err, value):
    """``cqd._ratio`` without branches."""
    mag = abs(value)
    r = err / (mag - err)
    r = r if err < mag else math.inf
    return 0.0 if err == 0.0 else r


@njit(cache=True, inline="always", error_model="numpy")
def _aerr(dA, pp, pm, weight, ez):
    """``cqd._aff_err`` of the linear domain (``ez > 0``)."""
    v = dA * max(pp, pm) * weight * ez
    return 0.0 if dA == 0.0 else v


@njit(cache=True, inline="always", error_model="numpy")
def _s3(a, b, c):
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    t = s + c
    r = t + e
    return r, 2.0 * _EPS * abs(r) + 4.0 * _EPS * _EPS * (abs(a) + abs(b) + abs(c))


@njit(cache=True, inline="always")
def _gather(base, d, md, i0, m, out):
    """``out[j] = base[((i0 + j) // d) % md]`` for ``j < m``, by runs (copies or fills)."""
    if md == 1:
        v0 = base[0]
        for j in range(m):
            out[j] = v0
        return
    j = 0
    if d == 1:
        v = i0 % md
        while j < m:
            run = min(md - v, m - j)
            src = base[v:v + run]  # views indexed from 0: LLVM then knows no index is negative and
            dst = out[j:j + run]   # drops numba's wraparound selects, so the copy vectorises
            for t in range(run):
                dst[t] = src[t]
            j += run
            v = 0
        return
    q = (i0 // d) % md
    r = i0 % d
    while j < m:
        run = min(d - r, m - j)
        val = base[q]
        dst = out[j:j + run]
        for t in range(run):
            dst[t] = val
        j += run
        r = 0
        q += 1
        if q == md:
            q = 0


_EXP_BITS = 0x7FF0 << 48
_KEY_MAX = (1 << 63) - 1


def min_key_to_float(keys: np.ndarray) -> np.ndarray:
    """The doubles of :func:`cqd_simd_kernel`'s order-preserving int64 keys (``bits ^ ((bits >> 63)
    & (2^63 − 1))``: the same map both ways; integer order is float order for non-NaN values).

    >>> x = np.array([-2.5, -0.0, 0.0, 1e-300, 3.0])
    >>> b = x.view(np.int64)
    >>> keys = b ^ ((b >> 63) & _KEY_MAX)
    >>> bool(np.all(np.diff(keys) >= 0)), min_key_to_float(keys).tolist() == x.tolist()
    (True, True)
    """
    keys = np.asarray(keys, dtype=np.int64)
    return (keys ^ ((keys >> 63) & _KEY_MAX)).view(np.float64)


# rows of the block scratch
_P, _JN, _JE, _JQ, _F, _SIG, _GAM, _SM, _RE, _RN, _REL, _SREL, _FLAG = 12, 16, 17, 20, 22, 25, 26, 27, 28, 29, 30, 33, 34
_ROWS = 35


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _block(w, m):
    """The vectorised loop over one block: ``w[k * BLOCK + j]`` holds the 12 gathered parameters
    (rows 0–11) and receives the outputs (rows ``_P`` ...); returns the number of flagged cells.

    One scratch array with compile-time row offsets: LLVM sees that the rows do not overlap and
    vectorises without run-time alias checks.
    """
    eps = _EPS
    B = BLOCK
    nflag = 0
    for j in range(m):
        eL = w[0 * B + j]
        eR = w[1 * B + j]
        kap = w[2 * B + j]
        Ta = w[3 * B + j]
        Tb = w[4 * B + j]
        Tr = w[5 * B + j]
        ma = w[6 * B + j]
        mb = w[7 * B + j]
        mr = w[8 * B + j]
        ga = w[9 * B + j]
        gb = w[10 * B + j]
        gr = w[11 * B + j]

        w1 = eL
        w2 = eL + kap
        v1 = eR
        v2 = eR + kap
        ba = 1.0 / Ta
        bb = 1.0 / Tb
        br = 1.0 / Tr
        xa1 = (w1 - ma) * ba
        xa2 = (w2 - ma) * ba
        xb1 = (w1 - mb) * bb
        xb2 = (w2 - mb) * bb
        xr1 = (v1 - mr) * br
        xr2 = (v2 - mr) * br
        fa1, ha1 = _occ(xa1)
        fa2, ha2 = _occ(xa2)
        fb1, hb1 = _occ(xb1)
        fb2, hb2 = _occ(xb2)
        fr1, hr1 = _occ(xr1)
        fr2, hr2 = _occ(xr2)

        kAB_a = ga * fa1
        kBA_a = ga * ha1
        kAB_b = gb * fb1
        kBA_b = gb * hb1
        kCD_a = ga * fa2
        kDC_a = ga * ha2
        kCD_b = gb * fb2
        kDC_b = gb * hb2
        kAC = gr * fr1
        kCA = gr * hr1
        kBD = gr * fr2
        kDB = gr * hr2
        kAB = kAB_a + kAB_b
        kBA = kBA_a + kBA_b
        kCD = kCD_a + kCD_b
        kDC = kDC_a + kDC_b

        tA = kBD * kDC * kCA + kBA * kDC * kCA + kBA * kDB * kCA + kCD * kDB * kBA
        tB = kAC * kCD * kDB + kAB * kCA * kDC + kAB * kDB * kCA + kAB * kDB * kCD
        tC = kAC * kBD * kDC + kBA * kAC * kDC + kDB * kBA * kAC + kAB * kBD * kDC
        tD = kAC * kCD * kBD + kBA * kAC * kCD + kCA * kAB * kBD + kAB * kBD * kCD
        Z = tA + tB + tC + tD
        iZ = 1.0 / Z

        dTr_a = kap * (Tr - Ta) * (ba * br)
        dTr_b = kap * (Tr - Tb) * (bb * br)
        dTab = Ta - Tb
        dmab = ma - mb
        bab = ba * bb
        d1_ba = (dTab * (w1 - mb) + Tb * dmab) * bab
        d2_ba = (dTab * (w2 - mb) + Tb * dmab) * bab
        A_aa = dTr_a
        A_bb = dTr_b
        A_ab = dTr_b + d1_ba
        A_ba = dTr_a - d1_ba
        pm_aa = kBA_a * kDB * kCD_a * kAC
        pp_aa = kAB_a * kBD * kDC_a * kCA
        pm_ab = kBA_a * kDB * kCD_b * kAC
        pp_ab = kAB_a * kBD * kDC_b * kCA
        pm_ba = kBA_b * kDB * kCD_a * kAC
        pp_ba = kAB_b * kBD * kDC_a * kCA
        pm_bb = kBA_b * kDB * kCD_b * kAC
        pp_bb = kAB_b * kBD * kDC_b * kCA
        c_aa = _cdiff(pp_aa, pm_aa, A_aa) * iZ
        c_ab = _cdiff(pp_ab, pm_ab, A_ab) * iZ
        c_ba = _cdiff(pp_ba, pm_ba, A_ba) * iZ
        c_bb = _cdiff(pp_bb, pm_bb, A_bb) * iZ
        W_AB = kCA * kDB + kCA * kDC + kDB * kCD
        W_CD = kAC * kBD + kAC * kBA + kBD * kAB
        pp1 = kAB_a * kBA_b
        pm1 = kBA_a * kAB_b
        pp2 = kCD_a * kDC_b
        pm2 = kDC_a * kCD_b
        l1 = _cdiff(pp1, pm1, d1_ba) * W_AB * iZ
        l2 = _cdiff(pp2, pm2, d2_ba) * W_CD * iZ
        pA = tA * iZ
        pB = tB * iZ
        pC = tC * iZ
        pD = tD * iZ
        pmin = min(min(min(pm_aa, pp_aa), min(pm_ab, pp_ab)), min(min(pm_ba, pp_ba), min(pm_bb, pp_bb)))
        xmax = max(max(max(abs(xa1), abs(xa2)), max(abs(xb1), abs(xb2))), max(abs(xr1), abs(xr2)))
        # the reference's log-domain cells, and those the fast exp does not cover (NaN fails every test)
        ok = Z > _Z_SAFE and pmin >= _P_SAFE and xmax <= _X_FAST
        w[_FLAG * B + j] = 0.0 if ok else 1.0
        nflag += 0 if ok else 1

        same_ab = dTab == 0.0 and dmab == 0.0
        c_ba = c_ab if same_ab else c_ba

        gam = c_aa + c_ab + c_ba + c_bb
        jn_a = l1 + l2 + c_ab - c_ba
        je_a = w1 * l1 + w2 * l2 - kap * c_aa + w1 * c_ab - w2 * c_ba
        je_b = -w1 * l1 - w2 * l2 - kap * c_bb + w1 * c_ba - w2 * c_ab
        je_r = kap * gam
        qa1 = w1 - ma
        qa2, qa2_err = _s3(eL, kap, -ma)
        qb1 = w1 - mb
        qb2, qb2_err = _s3(eL, kap, -mb)
        jq_a = qa1 * l1 + qa2 * l2 - kap * c_aa + qa1 * c_ab - qa2 * c_ba
        jq_b = -qb1 * l1 - qb2 * l2 - kap * c_bb + qb1 * c_ba - qb2 * c_ab

        w[_P * B + j] = pA
        w[(_P + 1) * B + j] = pB
        w[(_P + 2) * B + j] = pC
        w[(_P + 3) * B + j] = pD
        w[_JN * B + j] = jn_a
        w[_JE * B + j] = je_a
        w[(_JE + 1) * B + j] = je_b
        w[(_JE + 2) * B + j] = je_r
        w[_JQ * B + j] = jq_a
        w[(_JQ + 1) * B + j] = jq_b
        fer = (Tr - Ta) * (ba * br)
        feb = -dTab * bab
        fnb = (mb * dTab - Tb * dmab) * bab
        w[_F * B + j] = fer
        w[(_F + 1) * B + j] = feb
        w[(_F + 2) * B + j] = fnb
        sig = je_r * fer + je_b * feb - jn_a * fnb
        w[_SIG * B + j] = sig
        w[_GAM * B + j] = gam
        w[_SM * B + j] = (c_aa * A_aa + c_ab * A_ab + c_ba * A_ba + c_bb * A_bb
                          + l1 * d1_ba + l2 * d2_ba)

        # conservation residuals |sum J| / max |J| (thermo.conservation_residual), same order
        w[_RE * B + j] = residual_of_three(je_a, je_b, je_r)
        w[_RN * B + j] = residual_of_three(jn_a, -jn_a, 0.0)

        # -- error bounds: cqd._cqd_kernel's, linear domain --------------------------------------
        rho = eps * (8.0 + 3.0 * max(
            max((abs(eL) + abs(kap) + abs(ma)) * ba, (abs(eL) + abs(kap) + abs(mb)) * bb),
            (abs(eR) + abs(kap) + abs(mr)) * br))
        rc = 40.0 * rho + 40.0 * eps
        ez = 2.0 * iZ
        dA_aa = 6.0 * eps * abs(dTr_a)
        dA_bb = 6.0 * eps * abs(dTr_b)
        dA_ab = 6.0 * eps * (abs(dTr_b) + abs(d1_ba)) + 8.0 * eps * (abs(dTab * (w1 - mb)) + abs(Tb * dmab)) * bab
        dA_ba = 6.0 * eps * (abs(dTr_a) + abs(d1_ba)) + 8.0 * eps * (abs(dTab * (w1 - mb)) + abs(Tb * dmab)) * bab
        dA_1 = 8.0 * eps * (abs(dTab * (w1 - mb)) + abs(Tb * dmab)) * bab
        dA_2 = 8.0 * eps * (abs(dTab * (w2 - mb)) + abs(Tb * dmab)) * bab + 4.0 * eps * (abs(w2) + abs(mb)) * abs(dTab) * bab
        e_aa = rc * abs(c_aa) + _aerr(dA_aa, pp_aa, pm_aa, 1.0, ez)
        e_bb = rc * abs(c_bb) + _aerr(dA_bb, pp_bb, pm_bb, 1.0, ez)
        e_ab = rc * abs(c_ab) + _aerr(dA_ab, pp_ab, pm_ab, 1.0, ez)
        e_ba = rc * abs(c_ba) + _aerr(dA_ba, pp_ba, pm_ba, 1.0, ez)
        e_l1 = rc * abs(l1) + _aerr(dA_1, pp1, pm1, W_AB, ez)
        e_l2 = rc * abs(l2) + _aerr(dA_2, pp2, pm2, W_CD, ez)
        aw1 = abs(w1)
        aw2 = abs(w2)
        akap = abs(kap)
        s4 = 4.0 * eps
        e_anti = 0.0 if same_ab else e_ab + e_ba + s4 * (abs(c_ab) + abs(c_ba))
        err_n = e_l1 + e_l2 + e_anti + s4 * (abs(l1) + abs(l2))
        err_ea = (aw1 * (e_l1 + e_ab) + aw2 * (e_l2 + e_ba) + akap * e_aa + 2.0 * eps * aw2 * (abs(l2) + abs(c_ba))
                  + s4 * (aw1 * (abs(l1) + abs(c_ab)) + aw2 * (abs(l2) + abs(c_ba)) + akap * abs(c_aa)))
        err_eb = (aw1 * (e_l1 + e_ba) + aw2 * (e_l2 + e_ab) + akap * e_bb + 2.0 * eps * aw2 * (abs(l2) + abs(c_ab))
                  + s4 * (aw1 * (abs(l1) + abs(c_ba)) + aw2 * (abs(l2) + abs(c_ab)) + akap * abs(c_bb)))
        err_er = akap * (e_aa + e_ab + e_ba + e_bb) + s4 * akap * (abs(c_aa) + abs(c_ab) + abs(c_ba) + abs(c_bb))
        aq1 = abs(qa1)
        aq2 = abs(qa2)
        err_qa = (aq1 * (e_l1 + e_ab) + aq2 * (e_l2 + e_ba) + akap * e_aa
                  + (eps * aq1 + s4 * aq1) * (abs(l1) + abs(c_ab)) + (qa2_err + s4 * aq2) * (abs(l2) + abs(c_ba))
                  + s4 * akap * abs(c_aa))
        bq1 = abs(qb1)
        bq2 = abs(qb2)
        err_qb = (bq1 * (e_l1 + e_ba) + bq2 * (e_l2 + e_ab) + akap * e_bb
                  + (eps * bq1 + s4 * bq1) * (abs(l1) + abs(c_ba)) + (qb2_err + s4 * bq2) * (abs(l2) + abs(c_ab))
                  + s4 * akap * abs(c_bb))
        rn = _rat(err_n, jn_a)
        w[_REL * B + j] = max(max(_rat(err_ea, je_a), rn), _rat(err_qa, jq_a))
        w[(_REL + 1) * B + j] = max(max(_rat(err_eb, je_b), rn), _rat(err_qb, jq_b))
        w[(_REL + 2) * B + j] = _rat(err_er, je_r)
        err_s = (abs(fer) * (err_er + 8.0 * eps * abs(je_r)) + abs(feb) * (err_eb + 8.0 * eps * abs(je_b))
                 + abs(fnb) * (err_n + 8.0 * eps * abs(jn_a)))
        w[_SREL * B + j] = _rat(err_s, sig)
    return nflag


@njit(cache=True, parallel=True, error_model="numpy")
def cqd_simd_kernel(bases, div, mod, n, p, J_E, J_N, J_Q, F, sigma, sigma_micro, rel_err, sigma_rel_err,
                    cycle_flux, res_E, res_N, flag, block_flags, input_key):
    """All observables of ``n`` cells into the flat (C-order) output buffers; ``flag[i] = 1`` marks
    the cells to recompute with the reference kernel, ``block_flags[b]`` counts them per block.

    The blocks run in ``input_key.shape[0]`` parallel chunks of contiguous blocks (each thread
    first-touches output pages of its own).  ``input_key[c, k]`` receives, over chunk ``c``'s
    cells, the minimum of parameter ``k`` as an
    order-preserving integer key (:func:`min_key_to_float`), or ``INT64_MIN`` (a NaN) where a
    value is not finite: from the same read of the inputs, for a caller that deferred its value
    checks (:func:`qtmsweep.validation.check_parameters`).
    """
    nblocks = (n + BLOCK - 1) // BLOCK
    n_chunks = input_key.shape[0]
    for chunk in prange(n_chunks):  # contiguous runs of blocks, one scratch buffer each
        w = np.empty(_ROWS * BLOCK)
        wb = w.view(np.int64)
        key = input_key[chunk]
        for k in range(12):
            key[k] = _KEY_MAX
        for b in range(chunk * nblocks // n_chunks, (chunk + 1) * nblocks // n_chunks):
            i0 = b * BLOCK
            m = min(BLOCK, n - i0)
            for k in range(12):
                _gather(bases[k], div[k], mod[k], i0, m, w[k * BLOCK:(k + 1) * BLOCK])
                # the row's minimum as an order-preserving integer key, INT64_MIN where a value is inf or
                # NaN (exponent bits all ones): integer reductions vectorise
                lo = _KEY_MAX
                nb = 0
                for j in range(m):
                    bits = wb[k * BLOCK + j]
                    lo = min(lo, bits ^ ((bits >> 63) & _KEY_MAX))
                    nb += 1 if (bits & _EXP_BITS) == _EXP_BITS else 0
                key[k] = min(key[k], lo if nb == 0 else -_KEY_MAX - 1)
            block_flags[b] = _block(w, m)
            B = BLOCK
            for j in range(m):
                i = i0 + j
                p[4 * i] = w[_P * B + j]
                p[4 * i + 1] = w[(_P + 1) * B + j]
                p[4 * i + 2] = w[(_P + 2) * B + j]
                p[4 * i + 3] = w[(_P + 3) * B + j]
            for j in range(m):
                i = i0 + j
                jn = w[_JN * B + j]
                J_N[3 * i] = jn
                J_N[3 * i + 1] = -jn
                J_N[3 * i + 2] = 0.0
            for j in range(m):
                i = i0 + j
                J_E[3 * i] = w[_JE * B + j]
                J_E[3 * i + 1] = w[(_JE + 1) * B + j]
                J_E[3 * i + 2] = w[(_JE + 2) * B + j]
            for j in range(m):
                i = i0 + j
                J_Q[3 * i] = w[_JQ * B + j]
                J_Q[3 * i + 1] = w[(_JQ + 1) * B + j]
                J_Q[3 * i + 2] = w[(_JE + 2) * B + j]
            for j in range(m):
                i = i0 + j
                F[3 * i] = w[_F * B + j]
                F[3 * i + 1] = w[(_F + 1) * B + j]
                F[3 * i + 2] = w[(_F + 2) * B + j]
            for j in range(m):
                i = i0 + j
                rel_err[3 * i] = w[_REL * B + j]
                rel_err[3 * i + 1] = w[(_REL + 1) * B + j]
                rel_err[3 * i + 2] = w[(_REL + 2) * B + j]
            for j in range(m):
                sigma[i0 + j] = w[_SIG * B + j]
            for j in range(m):
                cycle_flux[i0 + j] = w[_GAM * B + j]
            for j in range(m):
                sigma_micro[i0 + j] = w[_SM * B + j]
            for j in range(m):
                sigma_rel_err[i0 + j] = w[_SREL * B + j]
            for j in range(m):
                res_E[i0 + j] = w[_RE * B + j]
            for j in range(m):
                res_N[i0 + j] = w[_RN * B + j]
            for j in range(m):
                flag[i0 + j] = np.uint8(w[_FLAG * B + j])


@njit(cache=True)
def flagged_cells(flag, block_flags):
    """Indices of the flagged cells (visiting only blocks that have one)."""
    total = 0
    for b in range(block_flags.size):
        total += block_flags[b]
    out = np.empty(total, dtype=np.int64)
    k = 0
    for b in range(block_flags.size):
        if block_flags[b] == 0:
            continue
        for i in range(b * BLOCK, min((b + 1) * BLOCK, flag.size)):
            if flag[i]:
                out[k] = i
                k += 1
    return out


@njit(cache=True)
def residuals_at(J_E, J_N, idx, res_E, res_N):
    """The conservation residuals of the cells ``idx`` (rows of the ``(n, 3)`` currents)."""
    for k in range(idx.size):
        i = idx[k]
        res_E[i] = residual_of_three(J_E[i, 0], J_E[i, 1], J_E[i, 2])
        res_N[i] = residual_of_three(J_N[i, 0], J_N[i, 1], J_N[i, 2])
