"""Run sweeps: Dask cluster set-up, chunk scheduling with a bounded window, progress.

Each chunk is one task: build the chunk's parameters from slices of the plan's axes,
one :func:`qtmsweep.solve` call, the chunk's zarr chunks written into the store, then its
bookkeeping (see :mod:`qtmsweep.sweep.store`).  The driver keeps at most
``max_in_flight`` tasks submitted, so its memory does not grow with the grid, and a
worker holds one chunk per thread.  Chunks already marked done are skipped, so a rerun
after an interruption computes only what is missing.

Examples
--------
>>> from qtmsweep.sweep import validate_config, run_sweep, RunOptions   # doctest: +SKIP
>>> cfg = validate_config(yaml.safe_load(open("config/config.yaml")))  # doctest: +SKIP
>>> run_sweep(cfg, "map_I", "results/map_I/map_I.zarr", RunOptions(cluster="inline"))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TextIO

from .grid import SweepPlan, build_plan, checked_probe
from .store import (StoreLock, check_output_path, chunk_done, finish_run, prepare_store, read_attrs,
                    read_done, start_run, write_chunk)


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class RunOptions:
    """How to execute (the ``dask`` section of the config, plus run-only switches).

    Attributes
    ----------
    cluster : {"auto", "local", "address", "slurm", "inline"}
        ``auto`` (the default): ``inline`` when the cells left to compute are at most
        :data:`AUTO_INLINE_CELLS` (starting a local cluster would take longer than the work),
        else ``local``.
    address : str or None
        Scheduler address for ``cluster="address"``.
    n_workers : int or None
        Local worker processes (default: CPUs available).
    threads_per_worker : int
    numba_threads : int or None
        Kernel threads per chunk (default: the worker's CPUs / its threads).
    memory_limit : str or int
    max_in_flight : int or None
        Tasks submitted at once (default 2 x cluster threads).
    slurm : dict
        ``dask_jobqueue.SLURMCluster`` settings (see the schema).
    progress : bool
        Progress bar on stderr.
    max_chunks : int or None
        Compute at most this many chunks, then stop (a partial, resumable run).
    if_exists : {"resume", "overwrite", "fresh"}
        What to do with an existing store (see :func:`qtmsweep.sweep.store.prepare_store`).
    durable : bool
        fsync every data file and directory entry before a chunk's completion flag (a flag set
        then survives a power loss; costs the time of the syncs, see ``benchmarks/durable.py``).
    check_disk : bool
        Refuse a sweep whose projected store is larger than the free disk
        (:func:`qtmsweep.sweep.sizes.check_disk_space`).
    """

    cluster: str = "auto"
    address: str | None = None
    n_workers: int | None = None
    threads_per_worker: int = 1
    numba_threads: int | None = None
    memory_limit: str | int = "auto"
    max_in_flight: int | None = None
    slurm: dict = field(default_factory=dict)
    progress: bool = True
    max_chunks: int | None = None
    if_exists: str = "resume"
    durable: bool = False
    check_disk: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> "RunOptions":
        """Options from a validated config's ``dask`` section, with non-``None`` overrides applied."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in dict(config.get("dask", {})).items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown run option(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def validate(self) -> None:
        if self.cluster not in ("auto", "local", "address", "slurm", "inline"):
            raise ValueError(f"cluster={self.cluster!r} is not allowed; allowed: 'auto', 'local', 'address', 'slurm', "
                             "'inline'")
        if self.cluster == "address" and not self.address:
            raise ValueError("cluster='address' needs a scheduler address (dask.address or --scheduler)")
        for name in ("n_workers", "numba_threads", "max_in_flight", "max_chunks"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name}={v!r} is not allowed; allowed: an integer >= 1")
        if isinstance(self.threads_per_worker, bool) or not isinstance(self.threads_per_worker, int) \
                or self.threads_per_worker < 1:
            raise ValueError(f"threads_per_worker={self.threads_per_worker!r} is not allowed; allowed: an integer >= 1")
        if self.if_exists not in ("resume", "overwrite", "fresh"):
            raise ValueError(f"if_exists={self.if_exists!r} is not allowed; allowed: 'resume', 'overwrite', 'fresh'")
        if not isinstance(self.check_disk, bool):
            raise ValueError(f"check_disk={self.check_disk!r} is not allowed; allowed: true or false")
        if not isinstance(self.durable, bool):
            raise ValueError(f"durable={self.durable!r} is not allowed; allowed: true or false")
        _check_memory_limit(self.memory_limit)
        if self.cluster == "address":
            _parse_scheduler_address(self.address)
        if self.cluster == "slurm":
            import importlib.util
            import shutil

            if importlib.util.find_spec("dask_jobqueue") is None:
                raise ValueError("cluster 'slurm' needs dask-jobqueue, which is not installed; install the slurm "
                                 "extra: pip install 'qtmsweep[slurm]'")
            if shutil.which("sbatch") is None:
                raise ValueError("cluster='slurm' needs SLURM's `sbatch` on PATH, and it is not there; allowed here: "
                                 "cluster 'local' or 'inline', or 'address' with a running scheduler")


#: ``cluster: auto`` computes in this process up to this many cells left to compute (a local
#: cluster takes seconds to start; inline, the kernel still uses every CPU through numba threads).
AUTO_INLINE_CELLS = 2**20

#: Smallest ``memory_limit`` a worker is given: the worker process itself needs ~150 MB and a chunk
#: may use up to the plan's 256 MiB budget.
MIN_MEMORY_LIMIT = 256 * 2**20


def _check_memory_limit(value: Any) -> None:
    """``memory_limit``: ``"auto"``, or a size (bytes as an int, or ``"4GB"``/``"2GiB"``) >= 256 MiB."""
    allowed = "allowed: 'auto', or a size of at least 256MiB such as '4GB' or 4000000000 (bytes)"
    if value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"memory_limit={value!r} is not allowed; {allowed}")
    if isinstance(value, str):
        from dask.utils import parse_bytes

        try:
            nbytes = parse_bytes(value)
        except (ValueError, TypeError):
            raise ValueError(f"memory_limit={value!r} is not a size; {allowed}") from None
    else:
        nbytes = value
    if nbytes < MIN_MEMORY_LIMIT:
        raise ValueError(f"memory_limit={value!r} ({nbytes} bytes) is too small for a worker; {allowed}")


def _parse_scheduler_address(address: Any) -> tuple[str, int]:
    """``(host, port)`` of a ``tcp://host:port`` (or ``host:port``) scheduler address; ValueError otherwise."""
    allowed = "allowed: a Dask scheduler address such as 'tcp://10.0.0.5:8786'"
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"scheduler address {address!r} is not allowed; {allowed}")
    text = address.strip()
    scheme, _, rest = text.rpartition("://")
    if scheme not in ("", "tcp", "tls"):
        raise ValueError(f"scheduler address {address!r}: protocol {scheme!r} is not supported; {allowed}")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c.isspace() for c in host):
        raise ValueError(f"scheduler address {address!r} is not host:port; {allowed}")
    return host.strip("[]"), int(port)


def check_scheduler_reachable(address: str, timeout: float = 5.0) -> None:
    """A TCP connection to the scheduler, before any store is created: a closed port or an unknown
    host is a ``ValueError`` naming the address within ``timeout`` seconds (not a 60 s hang)."""
    import socket

    host, port = _parse_scheduler_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        raise ValueError(f"scheduler address {address!r}: nothing answers there ({err.strerror or err}); start the "
                         "scheduler first, or use cluster 'local'") from None


@dataclass
class SweepResult:
    """What one run of one sweep did."""

    sweep: str
    store: str
    status: str  # created | resumed | replaced
    chunks_total: int
    chunks_done: int
    chunks_computed: int
    cells_total: int
    cells_computed: int
    seconds: float
    complete: bool
    invariants: dict[str, int]
    setup: dict[str, Any]
    run: int
    #: Seconds spent creating or checking the store (template) and summed over the chunk tasks
    #: (on the workers: compute, checks, writes); ``seconds`` minus both shares is scheduling.
    template_seconds: float = 0.0
    task_seconds: float = 0.0

    @property
    def cells_per_second(self) -> float:
        return self.cells_computed / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cells_per_second"] = self.cells_per_second
        return d


# -- progress -------------------------------------------------------------------------------------
class Progress:
    """A minimal progress bar on a stream: redrawn in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str, total: int, done: int = 0, *, stream: TextIO | None = None,
                 enabled: bool = True, interval: float = 5.0):
        self.label, self.total, self.done0, self.done = label, total, done, done
        self.cells = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if not self.tty else 0.1
        self.t0 = time.perf_counter()
        self._last = -math.inf
        self._drawn = None
        self._draw(force=True)

    def update(self, chunks: int = 1, cells: int = 0) -> None:
        self.done += chunks
        self.cells += cells
        self._draw()

    def _line(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        width = 30
        bar = "#" * int(round(frac * width))
        elapsed = time.perf_counter() - self.t0
        rate = self.cells / elapsed if elapsed > 0 else 0.0
        new = self.done - self.done0
        remaining = self.total - self.done
        eta = (elapsed / new * remaining) if new else float("nan")
        eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "--:--:--"
        return (f"{self.label} [{bar:<{width}}] {100 * frac:5.1f}% {self.done}/{self.total} chunks "
                f"{rate:9.3g} cells/s elapsed {time.strftime('%H:%M:%S', time.gmtime(elapsed))} ETA {eta_s}")

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.interval and self.done < self.total:
            return
        if self._drawn == self.done and not self.tty:
            return
        self._last = now
        self._drawn = self.done
        if self.tty:
            self.stream.write("\r" + self._line())
        else:
            self.stream.write(self._line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        self._draw(force=True)
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()


# -- the task ---------------------------------------------------------------------------------------
def _set_numba_threads(n: int | None) -> None:
    if not n:
        return
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


@dataclass(frozen=True)
class ChunkTarget:
    """Where a run's chunks go: the store, its ``store_id`` attr and the run's number."""

    store: str
    run: int
    store_id: str | None = None
    durable: bool = False


def compute_chunk(plan: SweepPlan, target: ChunkTarget, flat: int, numba_threads: int | None) -> tuple:
    """One task: solve chunk ``flat`` and write it (data, then bookkeeping).  Runs on a worker.

    A chunk already flagged done is not computed again: Dask reruns the tasks of a worker
    that died, and one of them may have finished writing before the worker went.

    Returns
    -------
    tuple
        ``(flat, cells, counts or None if it was already done, seconds)``.
    """
    t0 = time.perf_counter()
    index = plan.chunk_index(flat)
    if chunk_done(target.store, plan, index, target.store_id):
        return flat, plan.chunk_cells(index), None, time.perf_counter() - t0
    _set_numba_threads(numba_threads)
    ds = plan.compute(plan.chunk_slices(index))
    counts = write_chunk(target.store, plan, index, ds, target.run, target.store_id, target.durable)
    return flat, plan.chunk_cells(index), [int(c) for c in counts], time.perf_counter() - t0


def _warm_up(plans: list[SweepPlan], numba_threads: int | None) -> None:
    """On a worker: import everything and load each model's compiled kernel (one cell each)."""
    _set_numba_threads(numba_threads)
    for plan in plans:
        plan.probe()


# -- clusters ----------------------------------------------------------------------------------------
#: glibc malloc settings of the worker processes (see :func:`_worker_environ`).
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": 64 * 2**20, "MALLOC_TRIM_THRESHOLD_": 512 * 2**20}


def _worker_environ(numba_threads: int) -> dict[str, Any]:
    """``distributed.nanny.pre-spawn-environ``: environment of the worker processes a nanny spawns.

    Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` for workers, so the heap is given back to
    the kernel after every chunk and each chunk's arrays (a few MB each) fault their
    pages in again; an explicit trim threshold also freezes glibc's mmap threshold at
    128 KiB, so every array is a fresh ``mmap``.  :data:`WORKER_MALLOC` serves arrays
    below 64 MiB from the heap and keeps up to 512 MiB of it: measured, a chunk's
    kernel call makes 20x fewer page faults and runs 28% faster, and memory stays
    bounded by the largest chunk's working set.  ``OMP_NUM_THREADS`` (Dask: 1) becomes
    the numba kernel's thread count.
    """
    return {**WORKER_MALLOC, "OMP_NUM_THREADS": int(numba_threads), "MKL_NUM_THREADS": 1,
            "OPENBLAS_NUM_THREADS": 1}


@contextmanager
def _environ_without(names) -> Iterator[None]:
    """Hide ``names`` from this process's environment while a cluster starts, and restore them.

    A nanny takes a variable of ``pre-spawn-environ`` from the parent's environment when it
    is set there — and sets it there itself — so a cluster started earlier in this process
    (Dask's ``MALLOC_TRIM_THRESHOLD_=65536``) would otherwise override the workers' settings.
    """
    saved = {k: os.environ.get(k) for k in names}
    for k in names:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def dask_client(options: RunOptions, *, cpus: int | None = None) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Start (or connect to) the cluster ``options`` describe; yield ``(client or None, setup)``.

    ``setup`` records what was used (stored in the store's attrs).  ``cpus`` is the
    CPU budget of a local cluster (default: CPUs available; the Snakemake rule passes
    its ``threads``).  Only what this function started is stopped on exit.
    """
    options.validate()
    cpus = cpus or available_cpus()
    kind = options.cluster
    if kind == "auto":  # chosen by run_sweeps from the work left; a direct caller (refine) gets a local cluster
        kind = "local"
    if kind == "inline":
        nt = options.numba_threads or cpus
        yield None, {"cluster": "inline", "numba_threads": nt, "max_in_flight": 1}
        return
    import logging

    import dask
    from distributed import Client

    if kind == "local":
        from distributed import LocalCluster

        n = options.n_workers or cpus
        tpw = options.threads_per_worker
        nt = options.numba_threads or max(1, cpus // (n * tpw))
        environ = _worker_environ(nt)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), _environ_without(environ):
            cluster = LocalCluster(n_workers=n, threads_per_worker=tpw, processes=True,
                                   memory_limit=options.memory_limit, dashboard_address=":0",
                                   silence_logs=logging.ERROR)
        try:
            with Client(cluster) as client:
                setup = {"cluster": "local", "n_workers": n, "threads_per_worker": tpw, "numba_threads": nt,
                         "memory_limit": options.memory_limit,
                         "max_in_flight": options.max_in_flight or 2 * n * tpw}
                yield client, setup
        finally:
            cluster.close()
    elif kind == "address":
        with Client(options.address, timeout="60s") as client:
            threads = sum(client.nthreads().values()) or 1
            nt = options.numba_threads or 1
            setup = {"cluster": "address", "address": options.address, "workers": len(client.nthreads()),
                     "threads": threads, "numba_threads": nt, "max_in_flight": options.max_in_flight or 2 * threads}
            yield client, setup
    elif kind == "slurm":
        from dask_jobqueue import SLURMCluster

        s = dict(options.slurm)
        jobs = int(s.pop("jobs", 1))
        timeout = float(s.pop("worker_timeout", 300))
        kwargs = {k: v for k, v in s.items() if v not in (None, [])}
        kwargs.setdefault("cores", 1)
        kwargs.setdefault("memory", "1GB")
        kwargs.setdefault("processes", 1)
        kwargs.setdefault("python", sys.executable)
        per_process = max(1, int(kwargs["cores"]) // int(kwargs["processes"]))
        nt = options.numba_threads or 1
        workers = jobs * int(kwargs["processes"])
        # the job's nanny reads its dask config from the environment (merged into the defaults)
        environ = _worker_environ(nt)
        kwargs["job_script_prologue"] = list(kwargs.get("job_script_prologue", [])) + [
            f"unset {' '.join(environ)}",  # the job inherits ours; the nanny would prefer it
            f'export DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON="{environ!r}"']
        cluster = SLURMCluster(**kwargs)
        try:
            cluster.scale(jobs=jobs)
            with Client(cluster) as client:
                client.wait_for_workers(1, timeout=timeout)
                setup = {"cluster": "slurm", "jobs": jobs, "workers": workers, "threads_per_worker": per_process,
                         "numba_threads": nt, "max_in_flight": options.max_in_flight or 2 * workers * per_process,
                         "slurm": {k: v for k, v in kwargs.items() if k != "python"}}
                yield client, setup
        finally:
            cluster.close()
    else:  # pragma: no cover - validate() refuses
        raise ValueError(kind)


# -- running -----------------------------------------------------------------------------------------
def default_store(config: Mapping[str, Any], sweep: str, out: str | Path | None = None) -> Path:
    """``<out or results_dir>/<sweep>/<sweep>.zarr``."""
    base = Path(out) if out is not None else Path(config.get("results_dir", "results"))
    return base / sweep / f"{sweep}.zarr"


def run_sweeps(config: Mapping[str, Any], sweeps: Sequence[str] | None = None, *, out: str | Path | None = None,
               stores: Mapping[str, str | Path] | None = None, options: RunOptions | None = None,
               cpus: int | None = None, stream: TextIO | None = None) -> list[SweepResult]:
    """Run several sweeps of a validated config on one cluster.

    Every sweep is planned and probed, every output path checked and every store
    lock taken before the cluster starts or any store is created.

    Parameters
    ----------
    config : mapping
        Validated config (:func:`qtmsweep.sweep.config.validate_config`).
    sweeps : sequence of str, optional
        Which sweeps (default: all, in config order).
    out : path, optional
        Results directory (default ``config["results_dir"]``); stores go to
        ``<out>/<sweep>/<sweep>.zarr`` unless ``stores`` names them.
    options : RunOptions, optional
        Default: ``RunOptions.from_config(config)``.
    cpus : int, optional
        CPU budget of a local cluster.
    """
    options = options or RunOptions.from_config(config)
    options.validate()
    names = list(sweeps) if sweeps else list(config.get("sweeps", {}))
    refined = [n for n in names if (config.get("sweeps", {}).get(n) or {}).get("refine") is not None]
    if refined:
        raise ValueError(f"sweeps.{refined[0]}.refine: a refined sweep is run by qtmsweep.sweep.refine.run_refine "
                         "(`qtmsweep run` does); drop its refine key to run it densely")
    plans = {name: build_plan(config, name, probe=False) for name in names}
    probes = {name: checked_probe(plan) for name, plan in plans.items()}
    paths = {name: check_output_path(Path((stores or {}).get(name) or default_store(config, name, out)))
             for name in names}
    if len(set(map(str, paths.values()))) != len(paths):
        raise ValueError("two sweeps would write the same store; give distinct stores")
    if options.check_disk:
        from .sizes import check_disk_space

        for name in names:
            check_disk_space(plans[name], probes[name], paths[name], _done_fraction(plans[name], paths[name]))
    if options.cluster == "slurm" and not options.slurm.get("log_directory") and names:
        # keep the SLURM worker jobs' output next to the results, not in the current directory
        options.slurm = {**options.slurm, "log_directory": str(paths[names[0]].absolute().parent / "dask-worker-logs")}
    with ExitStack() as stack:
        for name in names:
            stack.enter_context(_lock(paths[name]))
        if not any(_work_left(plans[n], paths[n], options) for n in names):
            # every store is complete and would be resumed: no cluster for nothing to compute
            client, setup = None, {"cluster": "none (nothing left to compute)", "requested": options.cluster}
        else:
            chosen = options
            if options.cluster == "auto":
                left = sum(int(plans[n].n_cells * (1.0 - _done_fraction(plans[n], paths[n]))) for n in names)
                chosen = replace(options, cluster="inline" if left <= AUTO_INLINE_CELLS else "local")
            if chosen.cluster == "address":
                check_scheduler_reachable(chosen.address)
            client, setup = stack.enter_context(dask_client(chosen, cpus=cpus))
            if options.cluster == "auto":
                setup = {**setup, "chosen_by": f"cluster: auto ({left} cells left to compute; inline up to "
                                               f"{AUTO_INLINE_CELLS})"}
        # workers import the package and load the kernels while stores are prepared; the futures are
        # held until the runs end (a released future's task may be cancelled)
        _warm_futures = []
        if client is not None:
            _warm_futures = [client.submit(_warm_up, [plans[n] for n in names], setup.get("numba_threads"),
                                           workers=[w], allow_other_workers=False, pure=False)
                             for w in client.scheduler_info()["workers"]]
        return [_run_one(plans[n], probes[n], paths[n], client, setup, options, stream) for n in names]


def run_sweep(config: Mapping[str, Any], sweep: str, store: str | Path | None = None,
              options: RunOptions | None = None, *, cpus: int | None = None,
              stream: TextIO | None = None) -> SweepResult:
    """Run one sweep of a validated config into ``store`` (default ``<results_dir>/<sweep>/<sweep>.zarr``)."""
    return run_sweeps(config, [sweep], stores={sweep: store} if store is not None else None, options=options,
                      cpus=cpus, stream=stream)[0]


def _done_fraction(plan: SweepPlan, path: Path) -> float:
    """Fraction of the chunks of an existing store of the same config already done (else 0)."""
    from .layout import is_store

    try:
        if is_store(path) and read_attrs(path).get("config_sha256") == plan.config_sha256:
            return float(read_done(path).mean())
    except Exception:  # noqa: BLE001 - prepare_store says what is wrong with it
        pass
    return 0.0


def _work_left(plan: SweepPlan, path: Path, options: RunOptions) -> bool:
    """Whether running ``plan`` into ``path`` may compute anything (False only for a complete store
    of the same config, chunking and format that would be resumed)."""
    from .layout import STORE_FORMAT, is_store

    if options.if_exists == "fresh" or not is_store(path):
        return True
    try:
        attrs = read_attrs(path)
        if (attrs.get("config_sha256") != plan.config_sha256 or attrs.get("qtmsweep_store_format") != STORE_FORMAT
                or list(attrs.get("chunk_sizes", [])) != list(plan.chunks)
                or list(attrs.get("chunk_dims", [])) != list(plan.dims)):
            return True
        done = read_done(path)
    except Exception:  # noqa: BLE001 - anything unusual: let prepare_store say what it is
        return True
    return not done.all()


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Take the store's lock; if the run fails before the store exists, remove what the lock created."""
    created = [p for p in [path.absolute().parent, *path.absolute().parent.parents] if not p.exists()]
    lock = StoreLock(path).acquire()
    try:
        yield
    finally:
        lock.release(remove=True)
        if not path.exists():
            for p in created:  # innermost first
                try:
                    p.rmdir()
                except OSError:
                    break


def _run_one(plan: SweepPlan, probe, path: Path, client, setup: dict[str, Any], options: RunOptions,
             stream: TextIO | None) -> SweepResult:
    t0 = time.perf_counter()
    status = prepare_store(path, plan, probe, if_exists=options.if_exists)
    t_template = time.perf_counter() - t0
    store = str(path.absolute())
    done = read_done(store).reshape(-1)
    todo = [int(i) for i in (~done).nonzero()[0]]
    if options.max_chunks is not None:
        todo = todo[: options.max_chunks]
    run = start_run(store, setup)
    target = ChunkTarget(store, run, read_attrs(store).get("store_id"), bool(options.durable))
    progress = Progress(f"{plan.name}", plan.n_chunks, int(done.sum()), stream=stream, enabled=options.progress)
    computed = cells = 0
    task = 0.0
    try:
        for flat, n_cells, seconds in _execute(plan, target, todo, client, setup):
            computed += 1
            cells += n_cells
            task += seconds
            progress.update(1, n_cells)
    finally:
        progress.close()
        attrs = finish_run(store, plan, run, computed)
    return SweepResult(sweep=plan.name, store=str(path), status=status, chunks_total=plan.n_chunks,
                       chunks_done=attrs["chunks_done"], chunks_computed=computed, cells_total=plan.n_cells,
                       cells_computed=cells, seconds=time.perf_counter() - t0, complete=attrs["complete"],
                       invariants={k[len("invariant_"):]: v for k, v in attrs.items() if k.startswith("invariant_")},
                       setup=setup, run=run, template_seconds=t_template, task_seconds=task)


def _execute(plan: SweepPlan, target: ChunkTarget, todo: list[int], client,
             setup: dict[str, Any]) -> Iterator[tuple[int, int, float]]:
    """Compute the chunks ``todo``; yield ``(flat index, cells, task seconds)`` as each finishes and is recorded."""
    nt = setup.get("numba_threads")
    if client is None:
        for flat in todo:
            try:
                f, n, _, secs = compute_chunk(plan, target, flat, nt)
            except Exception as err:
                raise RuntimeError(f"sweep {plan.name!r}: chunk {flat} failed: {err!r}; the chunks finished so far "
                                   "are recorded, rerun to resume") from err
            yield f, n, secs
        return
    from distributed import as_completed

    window = max(1, int(setup.get("max_in_flight") or 2))
    [plan_future] = client.scatter([plan], broadcast=True, hash=False)
    token = uuid.uuid4().hex[:8]
    pending = iter(todo)

    def submit(flat: int):
        return client.submit(compute_chunk, plan_future, target, flat, nt, pure=False,
                             key=f"qtmsweep-{plan.name}-{token}-{flat}")

    ac = as_completed()
    in_flight = set()
    for flat in pending:
        fut = submit(flat)
        ac.add(fut)
        in_flight.add(fut)
        if len(in_flight) >= window:
            break
    error: BaseException | None = None
    failed_flat = None
    try:
        for fut in ac:
            in_flight.discard(fut)
            try:
                flat, n, _, secs = fut.result()
            except Exception as err:  # a chunk failed: stop submitting, let the others finish and record
                if error is None:
                    error, failed_flat = err, fut.key
                continue
            finally:
                fut.release()
            yield flat, n, secs
            if error is None:
                nxt = next(pending, None)
                if nxt is not None:
                    new = submit(nxt)
                    ac.add(new)
                    in_flight.add(new)
    except BaseException:
        client.cancel(list(in_flight))
        raise
    if error is not None:
        raise RuntimeError(f"sweep {plan.name!r}: chunk task {failed_flat} failed: {error!r}; "
                           "the chunks finished so far are recorded, rerun to resume") from error
