"""Create a store's template (metadata, coordinates, bookkeeping arrays), or check one can be resumed."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..thermo.invariants import CONSERVATION_LIMIT, PRECISION_LIMIT
from .bookkeeping import remove_partial_files
from .grid import SweepPlan
from .layout import (chunked_variables, BOOKKEEPING, CRC_ARRAY, check_metadata, COUNTER_DOC, COUNTERS, FLOAT32_DIAGNOSTICS, STORE_FORMAT, StoreError, _open_group,
                     _quiet, is_store, read_attrs, update_attrs)
from .provenance import provenance


def check_output_path(path: str | Path) -> Path:
    """Refuse output paths that cannot hold a store (before any work is done)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StoreError(f"output path {str(path)!r} exists and is not a directory; allowed: a new or existing "
                         "zarr store directory")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreError(f"output path {str(path)!r}: {str(parent)!r} is a file, not a directory")
            if not os.access(parent, os.W_OK) and not path.exists():
                raise StoreError(f"output path {str(path)!r}: directory {str(parent)!r} is not writable")
            break
    return path



def _axis_attrs(plan: SweepPlan, name: str) -> dict[str, str]:
    from ..physics.registry import get_model

    if name.startswith("F_E"):
        return {"units": "1/energy", "long_name": f"force {name} (difference of inverse temperatures)"}
    if name.startswith("F_N"):
        return {"units": "1", "long_name": f"force {name} (difference of beta*mu)"}
    model = get_model(plan.model)
    if name in model.parameter_names:
        p = model.parameter(name)
        return {"units": p.units, "long_name": p.description}
    alias = ALIAS_COORDS.get(model.name, {}).get(name)
    if alias is not None:  # a swept alias: the units of the parameters it stands for, and what it means
        like, long_name = alias
        return {"units": model.parameter(like).units, "long_name": long_name}
    if name in TEMPERATURE_ALIASES and {"T_L", "T_R"} <= set(model.parameter_names):
        return {"units": model.parameter("T_L").units, "long_name": TEMPERATURE_ALIASES[name]}
    return {"units": "1", "long_name": name}


#: Swept aliases of a pair of bath temperatures (the chain's ``T``, ``dT``: 003/004 presets).
TEMPERATURE_ALIASES = {"T": "mean bath temperature T = (T_L + T_R)/2 (T_L = T + dT/2, T_R = T - dT/2)",
                       "dT": "bath temperature difference dT = T_L - T_R"}
_FRIDGE_T = {"T": ("T_R", "bath temperature T = T_R (T_L = T + dT, T_C = T - dT: 003's symmetric bias)"),
             "dT": ("T_L", "temperature bias dT = T_L - T_R = T_R - T_C")}
#: Swept aliases of each built-in model (its ``normalize``): ``name -> (parameter with its units, long_name)``.
ALIAS_COORDS: dict[str, dict[str, tuple[str, str]]] = {
    "chain": {k: ("T_L", v) for k, v in TEMPERATURE_ALIASES.items()},
    "qubit_fridge": _FRIDGE_T,
    "kerr_fridge": _FRIDGE_T,
    "kerr_negf": {"T": ("T_R", "bath temperature T = T_R = T_C (T_L = T + dT: 003 Fig. 10)"),
                  "dT": ("T_L", "temperature bias dT = T_L - T_R")},
    "cqd": {"kappa_c": ("kappa", "kappa_c >= 0 of the inter-dot Coulomb coupling kappa = kappa_c - kappa_s"),
            "kappa_s": ("kappa", "kappa_s >= 0 of the inter-dot Coulomb coupling kappa = kappa_c - kappa_s")},
}
#: Attrs of the label coordinates the models leave bare.
LABEL_ATTRS = {"lead": {"long_name": "lead (reservoir) of a current; positive currents flow from it into the system"},
               "state": {"long_name": "state of the population p"}}


def template(plan: SweepPlan, probe: xr.Dataset) -> tuple[xr.Dataset, dict[str, dict]]:
    """Lazy (dask zeros, never computed) dataset with the store's full shape, and its encoding."""
    import dask.array as da

    dims = plan.dims
    coords: dict[str, Any] = {a.name: (a.name, a.values, _axis_attrs(plan, a.name)) for a in plan.axes}
    for name, c in probe.coords.items():
        if name in dims:
            continue
        values = c.values
        if values.dtype.kind == "U":  # variable-length strings have a zarr v3 spec, fixed-width ones don't
            values = values.astype(object)
        coords[name] = (c.dims, values, dict(c.attrs) or dict(LABEL_ATTRS.get(name, {})))
    data, encoding = {}, {}
    for name, v in probe.data_vars.items():
        if not set(v.dims) & set(dims):
            raise StoreError(f"output {name!r} does not depend on any swept dimension; cannot be stored per chunk")
        shape = tuple(plan.shape[dims.index(d)] if d in dims else v.sizes[d] for d in v.dims)
        chunks = tuple(plan.chunks[dims.index(d)] if d in dims else 1 for d in v.dims)
        # one dask chunk (never computed): the graph stays one task per variable for any grid size;
        # the zarr chunks come from the encoding
        dtype, attrs = v.dtype, dict(v.attrs)
        if name in FLOAT32_DIAGNOSTICS and dtype == np.float64:
            dtype = np.dtype(np.float32)
            note = "stored as float32 (a diagnostic: 7 significant digits; computed in float64)"
            attrs["comment"] = f"{note}; {attrs['comment']}" if attrs.get("comment") else note
        data[name] = (v.dims, da.zeros(shape, dtype=dtype, chunks=shape), attrs)
        encoding[name] = {"chunks": chunks, "compressors": _compressors()}
    ds = xr.Dataset(data, coords=coords)
    return ds, encoding


def _compressors() -> tuple:
    """Blosc LZ4 with byte shuffle: ~1/3 smaller than raw float64 maps, faster to write than zarr's zstd default."""
    from zarr.codecs import BloscCodec

    return (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),)



def crc_entries(group, dims: tuple[str, ...]) -> list[list]:
    """The data files of one computation chunk, ``[variable, [zarr chunk index along its non-swept
    dims]]``, in the order of a ``_sweep/crc32c`` row: every array of ``group`` over all the swept
    ``dims`` that is neither a coordinate nor an analysis variable."""
    import itertools

    out = []
    for name, array, names in chunked_variables(group, dims):
        other = [n for d, n in zip(names, array.cdata_shape) if d not in dims]
        out.extend([name, list(block)] for block in itertools.product(*(range(n) for n in other)))
    return out


def create_bookkeeping(group, grid: tuple[int, ...], dims: tuple[str, ...],
                       names=("done", "run", "counts", CRC_ARRAY)) -> None:
    """Create the ``_sweep`` arrays ``names`` (empty: no chunk done) in the store's root ``group``."""
    book = group[BOOKKEEPING] if BOOKKEEPING in group else group.create_group(BOOKKEEPING)
    ones = (1,) * len(grid)
    chunk_dims = [f"chunk_{d}" for d in dims]
    for name in names:
        if name in book:
            del book[name]
        if name == "counts":
            book.create_array("counts", shape=grid + (len(COUNTERS),), chunks=ones + (len(COUNTERS),),
                              dtype="int64", fill_value=0, compressors=None, dimension_names=chunk_dims + ["counter"])
        elif name == CRC_ARRAY:
            files = crc_entries(group, dims)
            crc = book.create_array(CRC_ARRAY, shape=grid + (len(files),), chunks=ones + (max(1, len(files)),),
                                    dtype="int64", fill_value=-1, compressors=None,
                                    dimension_names=chunk_dims + ["file"])
            crc.attrs.update({"files": files, "description": "crc32c (Castagnoli, as zarr's crc32c codec) of each "
                              "data file of the chunk as written; -1: not recorded"})
        else:
            book.create_array(name, shape=grid, chunks=ones, dtype="int8" if name == "done" else "int32",
                              fill_value=0, compressors=None, dimension_names=chunk_dims)
    book.attrs.update({"counters": list(COUNTERS), "counter_doc": COUNTER_DOC,
                       "conservation_limit": CONSERVATION_LIMIT, "precision_limit": PRECISION_LIMIT})


def _sibling(path: Path, kind: str) -> Path:
    return path.parent / f".{path.name}.{kind}-{uuid.uuid4().hex[:12]}"


def remove_stale_siblings(path: Path) -> int:
    """Delete the temporary templates and replaced stores a killed run left next to ``path``
    (``.<name>.template-*``, ``.<name>.trash-*``).  Call with the store's lock held."""
    n = 0
    for kind in ("template", "trash"):
        for stale in path.parent.glob(f".{path.name}.{kind}-*"):
            shutil.rmtree(stale, ignore_errors=True)
            n += 1
    return n


def create_store(path: str | Path, plan: SweepPlan, probe: xr.Dataset) -> None:
    """Write the template (metadata and coordinates only) and the bookkeeping arrays.

    The template is written to a temporary directory next to ``path`` and renamed into place
    (over a missing or empty ``path``), so a process killed while writing it leaves no store
    at ``path``, only a ``.<name>.template-*`` directory the next run removes.  Disk and
    permission errors are a :class:`StoreError` naming the file.
    """
    path = Path(path)
    probe = plan.store.apply(probe)  # the variables (and dtypes) the sweep's store: block keeps
    ds, encoding = template(plan, probe)
    attrs = dict(probe.attrs)
    attrs.update(plan.extra_attrs)
    attrs.update(plan.store.attrs())
    attrs.update(provenance(plan))
    attrs.update({"complete": False, "chunks_done": 0, "chunks_total": plan.n_chunks, "runs": "[]",
                  "store_id": uuid.uuid4().hex})
    ds.attrs = attrs
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _sibling(path, "template")
        try:
            with _quiet():
                # every coordinate chunk gets its file (one equal to the fill value too): verify can tell a lost one
                ds.to_zarr(str(tmp), mode="w", compute=False, zarr_format=3, consolidated=True, encoding=encoding,
                           write_empty_chunks=True)
                create_bookkeeping(_open_group(tmp, "r+"), plan.chunk_grid, plan.dims)
            # written last: its presence marks a complete template
            update_attrs(tmp, {"config_sha256": plan.config_sha256})
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except OSError as err:
        raise StoreError(f"cannot create store {str(path)!r}: {_os_reason(err)}; nothing was computed") from None


def _layout_change(attrs: dict, plan: SweepPlan) -> str:
    """``"; its store layout differs: ..."`` when the store's ``store:`` block differs from the plan's."""
    old = {"store_variables": attrs.get("store_variables", "all"), "store_float32": list(attrs.get("store_float32", []))}
    new = {"store_variables": "all", "store_float32": [], **plan.store.attrs()}
    if old == new:
        return ""
    def text(d):
        v = d["store_variables"]
        return (f"variables {v if v == 'all' else ', '.join(v)}; float32 "
                f"{', '.join(d['store_float32']) or '(diagnostics only)'}")
    return (f"; its store layout (the sweep's store: block) differs: the store holds {text(old)}, the config asks "
            f"for {text(new)}")


def _os_reason(err: OSError) -> str:
    """``No space left on device (/data/x.zarr/p/zarr.json)``: the error and the file, without a traceback."""
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    return f"{err.strerror or err}{where}"


def _replace(path: Path, plan: SweepPlan, probe: xr.Dataset) -> None:
    """Replace the store at ``path`` by a new template: the old one is renamed aside first and
    deleted last, so a killed process leaves either store (or none), never half of one."""
    trash = _sibling(path, "trash")
    try:
        os.rename(path, trash)
    except OSError as err:
        raise StoreError(f"cannot replace store {str(path)!r}: {_os_reason(err)}") from None
    create_store(path, plan, probe)
    shutil.rmtree(trash, ignore_errors=True)


def prepare_store(path: str | Path, plan: SweepPlan, probe: xr.Dataset, *, if_exists: str = "resume") -> str:
    """Create the store, or check an existing one can be resumed.  Call with the lock held.

    Parameters
    ----------
    if_exists : {"resume", "overwrite", "fresh"}
        ``resume``: continue a store made from the same sweep config, refuse another;
        ``overwrite``: resume the same config, replace a store of another config;
        ``fresh``: always start over.

    Returns
    -------
    str
        ``"created"``, ``"resumed"`` or ``"replaced"``.
    """
    if if_exists not in ("resume", "overwrite", "fresh"):
        raise ValueError(f"if_exists={if_exists!r} is not allowed; allowed: 'resume', 'overwrite', 'fresh'")
    # the real directory: a symlinked path shares the lock (and the store) with the direct one
    path = check_output_path(path).resolve()
    remove_stale_siblings(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        create_store(path, plan, probe)
        return "created"
    if not is_store(path):
        raise StoreError(f"{str(path)!r} exists and is not a zarr store; refusing to touch it")
    check_metadata(path)
    attrs = read_attrs(path)
    if "qtmsweep_store_format" not in attrs:
        raise StoreError(f"{str(path)!r} is a zarr store not written by qtmsweep; refusing to touch it (a template "
                         "interrupted by an older qtmsweep looks like this too: delete the directory if so)")
    sha = attrs.get("config_sha256")
    fmt = attrs["qtmsweep_store_format"]
    if fmt != STORE_FORMAT and sha is not None and if_exists == "resume":
        from .layout import FORMAT_CHANGES

        changed = "; ".join(f"format {k}: {FORMAT_CHANGES[k]}" for k in sorted(FORMAT_CHANGES)
                            if isinstance(fmt, int) and fmt < k <= STORE_FORMAT)
        raise StoreError(f"{str(path)!r} has store format {fmt}, this version writes format {STORE_FORMAT} "
                         f"({changed or 'another layout'}), so it cannot be resumed; it still reads as before "
                         "(open_store, info, verify, analyze). To finish it, run the qtmsweep that made it "
                         f"({attrs.get('qtmsweep_version', '?')}); to compute it again in this format, use --overwrite "
                         "or --fresh, or another --out")
    if sha is None or fmt != STORE_FORMAT:  # an interrupted template (nothing computed), or another layout
        _replace(path, plan, probe)
        return "replaced"
    if if_exists == "fresh" or (sha != plan.config_sha256 and if_exists == "overwrite"):
        _replace(path, plan, probe)
        return "replaced"
    if sha != plan.config_sha256:
        layout = _layout_change(attrs, plan)
        raise StoreError(f"{str(path)!r} was made from a different config of sweep {plan.name!r} "
                         f"(config_sha256 {sha[:12]}... vs {plan.config_sha256[:12]}...{layout}); "
                         "use --overwrite to replace it, or another --out")
    if list(attrs.get("chunk_sizes", [])) != list(plan.chunks) or list(attrs.get("chunk_dims", [])) != list(plan.dims):
        raise StoreError(f"{str(path)!r} has chunks {attrs.get('chunk_sizes')} over {attrs.get('chunk_dims')}, this "
                         f"version plans {list(plan.chunks)} over {list(plan.dims)}; use --fresh to start over")
    remove_partial_files(path)  # left by a writer that was killed mid-file
    return "resumed"
