"""Throughput and peak memory of the ``cqd`` kernel against plain-numpy baselines, as ratios.

Every method computes *all observables* (populations, J_E/J_N/J_Q per lead, forces, σ and the
Schnakenberg σ_micro) for the same random cells, in this process, each timed ``--repeat``
times (median and range printed):

* numpy batched solve — rates with numpy, the 4x4 rate matrices stacked, one batched
  ``np.linalg.solve``, then edge currents and σ;
* numpy closed form — the same Hill cycle-flux formulas as the kernel, one numpy array
  operation at a time (without the error bounds the kernel also computes);
* the kernels — ``closed_form(kernel="simd")`` (the default) and ``kernel="reference"``;
* floors — a numba loop that allocates the same outputs and writes them from the 12 inputs
  with trivial arithmetic (``store floor``), and the same plus the 12 transcendentals of a
  cell as vector loops over blocks of 256 cells, as the kernel runs them (``store+exp floor``):
  what no kernel of this layout can beat;
* ``qtmsweep.solve("cqd", ...)`` on the same cells, and on a 3-axis grid (DataArrays).

Printed ratios: kernel / numpy closed form (throughput), kernel / floor (time), solve /
kernel (throughput, flat and grid) and the peak-memory ratio solve / kernel (``tracemalloc``,
which numpy registers its buffers with).  The machine may be shared: compare ratios, which
are measured in one process, not absolute figures.

Run: ``python benchmarks/kernel.py [--cells 1e6] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

import qtmsweep
from numba import njit, prange

from qtmsweep.physics.models.cqd import closed_form
from qtmsweep.physics.vecmath import expm1_small, exp_nonpos

NAMES = ("eps_L", "eps_R", "kappa", "T_a", "T_b", "T_r", "mu_a", "mu_b", "mu_r", "gamma_a", "gamma_b", "gamma_r")


def random_cells(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "eps_L": rng.uniform(-2, 2, n), "eps_R": rng.uniform(-2, 3, n), "kappa": rng.uniform(-2, 2, n),
        "T_a": rng.uniform(0.2, 3, n), "T_b": rng.uniform(0.2, 3, n), "T_r": rng.uniform(0.2, 3, n),
        "mu_a": rng.uniform(-1, 1, n), "mu_b": rng.uniform(-1, 1, n), "mu_r": rng.uniform(-1, 1, n),
        "gamma_a": rng.uniform(0.1, 2, n), "gamma_b": rng.uniform(0.1, 2, n), "gamma_r": rng.uniform(0.1, 2, n),
    }


def baseline(prm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Plain numpy: rates -> stacked W -> batched np.linalg.solve -> currents, forces, σ, σ_micro."""
    n = prm["eps_L"].size
    E = np.stack([np.zeros(n), prm["eps_L"], prm["eps_R"], prm["eps_L"] + prm["eps_R"] + prm["kappa"]], axis=1)
    # (source, target, lead)
    edges = [(0, 1, "a"), (0, 1, "b"), (2, 3, "a"), (2, 3, "b"), (0, 2, "r"), (1, 3, "r")]
    W = np.zeros((n, 4, 4))
    rates = []
    for i, j, lead in edges:
        w = E[:, j] - E[:, i]
        x = (w - prm[f"mu_{lead}"]) / prm[f"T_{lead}"]
        f = 1.0 / (1.0 + np.exp(np.clip(x, -700, 700)))
        kin, kout = prm[f"gamma_{lead}"] * f, prm[f"gamma_{lead}"] * (1 - f)
        W[:, j, i] += kin
        W[:, i, j] += kout
        rates.append((i, j, lead, w, kin, kout, x))
    W[:, range(4), range(4)] -= W.sum(axis=1)
    W[:, 3, :] = 1.0
    b = np.zeros((n, 4, 1))
    b[:, 3, 0] = 1.0
    p = np.linalg.solve(W, b)[..., 0]
    lp = np.log(np.maximum(p, 1e-300))
    JE = {k: np.zeros(n) for k in "abr"}
    JN = {k: np.zeros(n) for k in "abr"}
    sm = np.zeros(n)
    for i, j, lead, w, kin, kout, x in rates:
        flux = kin * p[:, i] - kout * p[:, j]
        JE[lead] += w * flux
        JN[lead] += flux
        sm += flux * (-x + lp[:, i] - lp[:, j])
    JQ = {k: JE[k] - prm[f"mu_{k}"] * JN[k] for k in "abr"}
    F_E_r = 1 / prm["T_a"] - 1 / prm["T_r"]
    F_E_b = 1 / prm["T_a"] - 1 / prm["T_b"]
    F_N_b = prm["mu_b"] / prm["T_b"] - prm["mu_a"] / prm["T_a"]
    sigma = JE["r"] * F_E_r + JE["b"] * F_E_b + JN["b"] * F_N_b
    return {"p": p, "J_E": np.stack([JE[k] for k in "abr"], 1), "J_N": np.stack([JN[k] for k in "abr"], 1),
            "J_Q": np.stack([JQ[k] for k in "abr"], 1), "sigma": sigma, "sigma_micro": sm}



def numpy_closed_form(prm):
    """Plain numpy: the same Hill cycle-flux closed form (no error bounds), one array op at a time."""
    eL, eR, kap = prm["eps_L"], prm["eps_R"], prm["kappa"]
    Ta, Tb, Tr = prm["T_a"], prm["T_b"], prm["T_r"]
    ma, mb, mr = prm["mu_a"], prm["mu_b"], prm["mu_r"]
    ga, gb, gr = prm["gamma_a"], prm["gamma_b"], prm["gamma_r"]
    w1, w2, v1, v2 = eL, eL + kap, eR, eR + kap
    ba, bb, br = 1 / Ta, 1 / Tb, 1 / Tr

    def occ(x):
        e = np.exp(-np.abs(x))
        r = 1 / (1 + e)
        return np.where(x > 0, e * r, r), np.where(x > 0, r, e * r)

    fa1, ha1 = occ((w1 - ma) * ba)
    fa2, ha2 = occ((w2 - ma) * ba)
    fb1, hb1 = occ((w1 - mb) * bb)
    fb2, hb2 = occ((w2 - mb) * bb)
    fr1, hr1 = occ((v1 - mr) * br)
    fr2, hr2 = occ((v2 - mr) * br)
    kAB_a, kBA_a, kAB_b, kBA_b = ga * fa1, ga * ha1, gb * fb1, gb * hb1
    kCD_a, kDC_a, kCD_b, kDC_b = ga * fa2, ga * ha2, gb * fb2, gb * hb2
    kAC, kCA, kBD, kDB = gr * fr1, gr * hr1, gr * fr2, gr * hr2
    kAB, kBA, kCD, kDC = kAB_a + kAB_b, kBA_a + kBA_b, kCD_a + kCD_b, kDC_a + kDC_b
    tA = kBD * kDC * kCA + kBA * kDC * kCA + kBA * kDB * kCA + kCD * kDB * kBA
    tB = kAC * kCD * kDB + kAB * kCA * kDC + kAB * kDB * kCA + kAB * kDB * kCD
    tC = kAC * kBD * kDC + kBA * kAC * kDC + kDB * kBA * kAC + kAB * kBD * kDC
    tD = kAC * kCD * kBD + kBA * kAC * kCD + kCA * kAB * kBD + kAB * kBD * kCD
    iZ = 1 / (tA + tB + tC + tD)
    dTab, dmab, bab = Ta - Tb, ma - mb, ba * bb
    A_aa = kap * (Tr - Ta) * (ba * br)
    A_bb = kap * (Tr - Tb) * (bb * br)
    d1 = (dTab * (w1 - mb) + Tb * dmab) * bab
    d2 = (dTab * (w2 - mb) + Tb * dmab) * bab
    A_ab, A_ba = A_bb + d1, A_aa - d1

    def cdiff(pp, pm, A):
        small = np.where(A >= 0, -pp * np.expm1(-np.abs(A)), pm * np.expm1(-np.abs(A)))
        return np.where(np.abs(A) >= 0.5, pp - pm, small)

    c_aa = cdiff(kAB_a * kBD * kDC_a * kCA, kBA_a * kDB * kCD_a * kAC, A_aa) * iZ
    c_ab = cdiff(kAB_a * kBD * kDC_b * kCA, kBA_a * kDB * kCD_b * kAC, A_ab) * iZ
    c_ba = cdiff(kAB_b * kBD * kDC_a * kCA, kBA_b * kDB * kCD_a * kAC, A_ba) * iZ
    c_bb = cdiff(kAB_b * kBD * kDC_b * kCA, kBA_b * kDB * kCD_b * kAC, A_bb) * iZ
    l1 = cdiff(kAB_a * kBA_b, kBA_a * kAB_b, d1) * (kCA * kDB + kCA * kDC + kDB * kCD) * iZ
    l2 = cdiff(kCD_a * kDC_b, kDC_a * kCD_b, d2) * (kAC * kBD + kAC * kBA + kBD * kAB) * iZ
    gam = c_aa + c_ab + c_ba + c_bb
    jn_a = l1 + l2 + c_ab - c_ba
    je_a = w1 * l1 + w2 * l2 - kap * c_aa + w1 * c_ab - w2 * c_ba
    je_b = -w1 * l1 - w2 * l2 - kap * c_bb + w1 * c_ba - w2 * c_ab
    je_r = kap * gam
    qa1, qa2, qb1, qb2 = w1 - ma, w2 - ma, w1 - mb, w2 - mb
    jq_a = qa1 * l1 + qa2 * l2 - kap * c_aa + qa1 * c_ab - qa2 * c_ba
    jq_b = -qb1 * l1 - qb2 * l2 - kap * c_bb + qb1 * c_ba - qb2 * c_ab
    fer, feb, fnb = (Tr - Ta) * (ba * br), -dTab * bab, (mb * dTab - Tb * dmab) * bab
    zero = np.zeros_like(jn_a)
    return {
        "p": np.stack([tA * iZ, tB * iZ, tC * iZ, tD * iZ], axis=1),
        "J_E": np.stack([je_a, je_b, je_r], axis=1), "J_N": np.stack([jn_a, -jn_a, zero], axis=1),
        "J_Q": np.stack([jq_a, jq_b, je_r], axis=1), "F": np.stack([fer, feb, fnb], axis=1),
        "sigma": je_r * fer + je_b * feb - jn_a * fnb, "cycle_flux": gam,
        "sigma_micro": c_aa * A_aa + c_ab * A_ab + c_ba * A_ba + c_bb * A_bb + l1 * d1 + l2 * d2,
    }


@njit(cache=True, parallel=True)
def _floor_loop(prm, n, outs, transcendentals):
    p, J_E, J_N, J_Q, F, sigma, sigma_micro, rel_err, sigma_rel_err, cycle_flux, res_E, res_N = outs
    for i in prange(n):
        a = prm[0][i] + prm[1][i] + prm[2][i] + prm[3][i] + prm[4][i] + prm[5][i]
        b = prm[6][i] + prm[7][i] + prm[8][i] + prm[9][i] + prm[10][i] + prm[11][i]
        if transcendentals:  # 6 exp and 6 expm1, independent (as in the kernel)
            for k in range(6):
                a += exp_nonpos(-abs(prm[k][i]))
                b += expm1_small(-min(abs(prm[k + 6][i]), 0.5))
        for k in range(4):
            p[4 * i + k] = a + k
        for k in range(3):
            J_E[3 * i + k] = a - k
            J_N[3 * i + k] = b + k
            J_Q[3 * i + k] = b - k
            F[3 * i + k] = a * k
            rel_err[3 * i + k] = b * k
        sigma[i] = a * b
        sigma_micro[i] = a + b
        sigma_rel_err[i] = a - b
        cycle_flux[i] = b - a
        res_E[i] = a
        res_N[i] = b


@njit(cache=True, parallel=True)
def _floor_blocks(P, n, outs):
    """The store+exp floor as the kernel runs: blocks of 256 cells, each transcendental a vector
    loop over a block (a per-cell loop over 12 of them does not vectorise; it is no floor)."""
    p, J_E, J_N, J_Q, F, sigma, sigma_micro, rel_err, sigma_rel_err, cycle_flux, res_E, res_N = outs
    B = 256
    for blk in prange((n + B - 1) // B):
        s = blk * B
        m = min(B, n - s)
        a = np.zeros(B)
        b = np.zeros(B)
        for k in range(6):
            for j in range(m):
                a[j] += P[k, s + j] + exp_nonpos(-abs(P[k, s + j]))
            for j in range(m):
                b[j] += P[k + 6, s + j] + expm1_small(-min(abs(P[k + 6, s + j]), 0.5))
        for j in range(m):
            i = s + j
            for k in range(4):
                p[4 * i + k] = a[j] + k
            for k in range(3):
                J_E[3 * i + k] = a[j] - k
                J_N[3 * i + k] = b[j] + k
                J_Q[3 * i + k] = b[j] - k
                F[3 * i + k] = a[j] * k
                rel_err[3 * i + k] = b[j] * k
            sigma[i] = a[j] * b[j]
            sigma_micro[i] = a[j] + b[j]
            sigma_rel_err[i] = a[j] - b[j]
            cycle_flux[i] = b[j] - a[j]
            res_E[i] = a[j]
            res_N[i] = b[j]


def floor(prm, transcendentals: bool = False):
    """Fresh outputs of the kernel's layout written from the inputs (see the module docstring);
    with ``transcendentals``, ``prm`` is the (12, n) stack of the inputs (:func:`stacked`)."""
    if transcendentals:
        n = prm.shape[1]
        outs = tuple(np.empty(n * k) for k in (4, 3, 3, 3, 3, 1, 1, 3, 1, 1, 1, 1))
        _floor_blocks(prm, n, outs)
        return outs
    n = prm["eps_L"].size
    outs = tuple(np.empty(n * k) for k in (4, 3, 3, 3, 3, 1, 1, 3, 1, 1, 1, 1))
    _floor_loop(tuple(np.ascontiguousarray(prm[k]) for k in NAMES), n, outs, transcendentals)
    return outs


def stacked(prm: dict[str, np.ndarray]) -> np.ndarray:
    """The 12 inputs as one (12, n) array (made once, outside the timed floor)."""
    return np.stack([np.asarray(prm[k], dtype=float) for k in NAMES])


def measure(fn, *args, repeat: int = 5):
    """``(median, min, max)`` seconds over ``repeat`` runs after a warm-up, and the tracemalloc peak."""
    fn(*args)  # warm-up (JIT compile, page faults)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
        del out
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return (float(np.median(times)), min(times), max(times)), peak


def interleaved(fa, arg_a, fb, arg_b, repeat: int = 5) -> tuple[float, float, float]:
    """``time(b) / time(a)`` per round, ``a`` and ``b`` alternating (each after a warm-up), as
    ``(median, min, max)``: both then meet the same state of the allocator and of the page cache
    (this VM pays 1–2.4 ns per freshly touched byte, so a method timed right after another one
    freed its arrays runs on warm pages and one timed after an allocation-free one does not)."""
    fa(arg_a), fb(arg_b)
    ratios = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fa(arg_a)
        ta = time.perf_counter() - t0
        del out
        t0 = time.perf_counter()
        out = fb(arg_b)
        tb = time.perf_counter() - t0
        del out
        ratios.append(tb / ta)
    return float(np.median(ratios)), min(ratios), max(ratios)


def grid_cells(n: int) -> dict:
    """A 3-axis grid of about ``n`` cells (T_a x mu_b x kappa DataArrays), the rest fixed."""
    a = max(2, round(n ** (1 / 3)))
    g = qtmsweep.grid(T_a=np.linspace(0.3, 2, a), mu_b=np.linspace(-1, 1, a), kappa=np.linspace(-2, 2, max(1, n // (a * a))))
    return {**{k: v[0] for k, v in random_cells(1).items()}, **g}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=float, nargs="+", default=[1e6])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import numba

    print(f"host {host_cpu()}; numba threads: {numba.get_num_threads()}, numpy {np.__version__}; {vector_width()}")
    print(f"{'cells':>10} {'method':<24} {'ns/cell':>8} {'range':>13} {'peak MiB':>9}")
    for n in map(int, args.cells):
        prm = random_cells(n)
        grid = grid_cells(n)
        n_grid = int(np.prod([v.size for v in grid.values() if np.ndim(v)]))
        runs = {
            "numpy batched solve": (baseline, prm),
            "numpy closed form": (numpy_closed_form, prm),
            "kernel simd": (lambda q: closed_form(q, kernel="simd"), prm),
            "kernel reference": (lambda q: closed_form(q, kernel="reference"), prm),
            "store floor": (floor, prm),
            "store+exp floor": (lambda q: floor(q, True), stacked(prm)),
            "solve (flat arrays)": (lambda q: qtmsweep.solve("cqd", **q), prm),
            "kernel simd (grid)": (_grid_kernel, grid),
            "solve (grid)": (lambda q: qtmsweep.solve("cqd", **q), grid),
        }
        res = {}
        for label, (fn, arg) in runs.items():
            (med, lo, hi), peak = measure(fn, arg, repeat=args.repeat)
            cells = n_grid if "grid" in label else n
            res[label] = (med / cells, peak / cells)
            print(f"{cells:>10.2e} {label:<24} {med / cells * 1e9:>8.1f} {lo / cells * 1e9:>6.1f}-{hi / cells * 1e9:<6.1f} "
                  f"{peak / 2**20:>9.0f}")
        t = {k: v[0] for k, v in res.items()}
        m = {k: v[1] for k, v in res.items()}
        print("ratios (throughput, medians, this run):")
        for k in ("kernel simd", "kernel reference"):
            print(f"  {k} / numpy closed form     {t['numpy closed form'] / t[k]:6.2f}")
            print(f"  {k} / numpy batched solve   {t['numpy batched solve'] / t[k]:6.2f}")
            print(f"  {k} time / store floor      {t[k] / t['store floor']:6.2f}")
            print(f"  {k} time / store+exp floor  {t[k] / t['store+exp floor']:6.2f}")
        print(f"  simd / reference kernel             {t['kernel reference'] / t['kernel simd']:6.2f}")
        best = t["numpy closed form"] / t["store+exp floor"]
        print(f"  kernel / numpy closed form, timed one after the other: {t['numpy closed form'] / t['kernel simd']:.2f}; a "
              f"kernel at its store+exp floor would reach {best:.2f}")
        print(f"  solve / kernel (flat arrays)        {t['kernel simd'] / t['solve (flat arrays)']:6.2f}   (timed one after the other)")
        print(f"  solve / kernel (grid)               {t['kernel simd (grid)'] / t['solve (grid)']:6.2f}   (timed one after the other)")
        print("interleaved (each round: one, then the other; throughput ratio, median [min-max] of the rounds):")
        pairs = {
            "kernel simd / numpy closed form": (runs["kernel simd"], runs["numpy closed form"]),
            "solve / kernel (flat arrays)": (runs["solve (flat arrays)"], runs["kernel simd"]),
            "solve / kernel (grid)": (runs["solve (grid)"], runs["kernel simd (grid)"]),
        }
        inter = {}
        for label, ((fa, xa), (fb, xb)) in pairs.items():
            inter[label] = med, lo, hi = interleaved(fa, xa, fb, xb, repeat=args.repeat)
            print(f"  {label:<34} {med:6.2f} [{lo:.2f}-{hi:.2f}]")
        med, lo, hi = inter["kernel simd / numpy closed form"]
        verdict = "met in every round" if lo >= 10 else "met (median)" if med >= 10 else "NOT met"
        print(f"  goal kernel / numpy closed form >= 10 (interleaved rounds): {verdict} ({med:.2f} [{lo:.2f}-{hi:.2f}])")
        med, lo, hi = inter["solve / kernel (flat arrays)"]
        print(f"  goal solve / kernel >= 0.8 (interleaved, flat arrays): {'met' if med >= 0.8 else 'NOT met'} ({med:.2f})")
        print(f"  peak memory solve / kernel (flat)   {m['solve (flat arrays)'] / m['kernel simd']:6.2f}")
        print(f"  peak memory solve / kernel (grid)   {m['solve (grid)'] / m['kernel simd (grid)']:6.2f}")
        del prm, grid
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MiB")


def host_cpu() -> str:
    """The CPU as LLVM names it (the vector width the kernels compile to depends on it: this
    script's ratios differ between hosts, e.g. AMD znver1 with AVX2 and znver4 with AVX-512)."""
    import llvmlite.binding as llvm

    feats = llvm.get_host_cpu_features()
    width = "AVX-512" if feats.get("avx512f") else "AVX2" if feats.get("avx2") else "SSE"
    return f"{llvm.get_host_cpu_name()} ({width})"


def vector_width() -> str:
    """Which vector registers the compiled SIMD kernel uses (counted in its assembly): LLVM picks
    512-bit vectors on this CPU by itself (znver4), so ``NUMBA_CPU_FEATURES=...,-prefer-256-bit``
    changes nothing."""
    import re

    from qtmsweep.physics.models import cqd_simd

    closed_form(random_cells(1000), kernel="simd")
    counts = {"zmm (512-bit)": 0, "ymm (256-bit)": 0}
    for fn in (cqd_simd.cqd_simd_kernel, cqd_simd._block):
        for asm in fn.inspect_asm().values():
            counts["zmm (512-bit)"] += len(re.findall(r"%zmm", asm))
            counts["ymm (256-bit)"] += len(re.findall(r"%ymm", asm))
    if not any(counts.values()):
        return ("SIMD kernel registers: not counted (loaded from numba's cache; NUMBA_CACHE_DIR=$(mktemp -d) compiles it "
                "and counts them)")
    return "SIMD kernel register uses: " + ", ".join(f"{k} {v}" for k, v in counts.items())


def _grid_kernel(q: dict):
    """The kernel on the grid's axes in place (what solve calls, without the Dataset)."""
    from qtmsweep.solve import _broadcast

    arrays, dims, coords, shape, places = _broadcast(q)
    return closed_form({k: places.get(k, v) for k, v in arrays.items()}, cells=int(np.prod(shape)))


if __name__ == "__main__":
    main()
