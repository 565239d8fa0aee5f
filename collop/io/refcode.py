"""The folder layout of the reference code ml-pic-collision-operators -> a ``phasespace`` dataset.

Layout read
-----------
The reference code (github.com/diogodcarvalho/ml-pic-collision-operators,
``examples/dataset/``) keeps one folder per population, named like the
population (``normal_-2_0``, ``ring_normal_2_0.2``), holding a sub-folder
``f/`` (the ``fdist_subname``) with

* ``NNNNNN.npy``: one raw-count histogram (``n_bins x n_bins``, axis 0 =
  v_x, axis 1 = v_y) per frame, numbered by frame index; the numbering starts
  at ``i_start`` (earlier frames may be absent);
* ``args.yaml``: ``dt``, ``t_start``, ``i_start``, ``i_end`` (-1: up to the
  last frame), ``n_bins``, ``v_range: [vx_min, vx_max, vy_min, vy_max]``,
  ``v_range_units`` (e.g. ``'[v_th]'``), and optionally ``v_range_c`` (the
  same range in units of c).

``args.yaml`` is read from the histogram folder (``<pop>/f/args.yaml``, where
the reference code keeps it); an ``args.yaml`` in the population folder or at
the top of the dataset folder is accepted as a fallback. Histograms directly
in the population folder (no ``f/``) are accepted too.

Conventions of the result
-------------------------
* Frames ``i_start .. i_end - 1`` (``i_end = -1``: up to the highest frame
  present); a gap in the numbering is an error. Every population must have
  the same frames, ``dt``, ``t_start``, ``i_start``, grid and units.
* ``time = t_start + (i - i_start) * dt``; ``time_units`` is ``"1/omega_p"``
  (args.yaml names no time unit; the reference code's simulations are in
  plasma units) unless args.yaml has ``t_units`` or ``time_units``.
* Bin edges span ``v_range`` in ``n_bins`` equal bins; ``vx``, ``vy`` are the
  bin centres, in ``velocity_units`` = ``v_range_units`` without brackets
  (``"v_th"``).
* ``n_particles`` is the total count of the first frame (``i_start``), as the
  reference code normalises; ``f = counts / (n_particles * dvx * dvy)``, so
  ``sum(f) dvx dvy`` is the fraction of the population's particles inside the
  grid (the data contract), 1 at the first frame.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..datasets import phasespace_dataset
from ._common import first_line, reader_error

__all__ = ["read_refcode", "find_refcode_populations", "is_refcode_folder"]

_FRAME = re.compile(r"^(\d+)\.npy$")
_REQUIRED = ("dt", "t_start", "i_start", "n_bins", "v_range", "v_range_units")


def _hist_folder(pop: Path) -> Path | None:
    """The folder of a population that holds its ``NNNNNN.npy`` files."""
    for d in (pop / "f", pop):
        if d.is_dir() and any(_FRAME.match(x.name) for x in d.iterdir()):
            return d
    return None


def _args_file(hist: Path, top: Path) -> Path | None:
    for d in (hist, hist.parent, top):
        if (d / "args.yaml").is_file():
            return d / "args.yaml"
    return None


def is_refcode_folder(src) -> bool:
    """True if ``src`` is a reference-code dataset folder (or one population of one)."""
    p = Path(src)
    if not p.is_dir():
        return False
    cand = [p] + [d for d in p.iterdir() if d.is_dir()]
    return any(_hist_folder(d) is not None and _args_file(_hist_folder(d), p) is not None
               for d in cand)


def find_refcode_populations(src) -> list[tuple[str, Path, Path]]:
    """``(name, histogram folder, args.yaml)`` of each population under ``src``.

    ``src`` is the dataset folder (one sub-folder per population) or a single
    population folder (``normal_-2_0`` or ``normal_-2_0/f``).
    """
    p = Path(src)
    if not p.exists():
        raise reader_error("no such folder", src)
    if not p.is_dir():
        raise reader_error("is a file; expected a folder of population folders", src)
    pops = []
    own = _hist_folder(p)
    if own is not None:  # a single population
        name = p.parent.name if p.name == "f" else p.name
        pops.append((name, own, _args_file(own, p.parent if p.name == "f" else p)))
    else:
        for d in sorted(x for x in p.iterdir() if x.is_dir()):
            h = _hist_folder(d)
            if h is not None:
                pops.append((d.name, h, _args_file(h, p)))
    if not pops:
        raise reader_error("no population folders with NNNNNN.npy histograms (e.g. normal_-2_0/f/)", src)
    for name, h, a in pops:
        if a is None:
            raise reader_error("no args.yaml for this population (looked in the histogram folder, "
                               "the population folder and the dataset folder)", h)
    return pops


def _number(args, key, path, *, kind=float):
    v = args[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise reader_error(f"malformed args.yaml: {key!r} is {v!r}, expected a number", path)
    if kind is int and float(v) != int(v):
        raise reader_error(f"malformed args.yaml: {key!r} is {v!r}, expected an integer", path)
    v = kind(v)
    if not np.isfinite(v):
        raise reader_error(f"malformed args.yaml: {key!r} is {v!r}", path)
    return v


def _read_args(path: Path) -> dict:
    import yaml

    try:
        args = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise reader_error(f"malformed args.yaml, not valid YAML ({first_line(exc)})", path) from None
    if not isinstance(args, dict):
        raise reader_error("malformed args.yaml: expected a mapping of keys to values", path)
    missing = [k for k in _REQUIRED if k not in args]
    if missing:
        raise reader_error(f"malformed args.yaml: missing {', '.join(repr(k) for k in missing)}", path)
    out = {"dt": _number(args, "dt", path), "t_start": _number(args, "t_start", path),
           "i_start": _number(args, "i_start", path, kind=int),
           "n_bins": _number(args, "n_bins", path, kind=int),
           "i_end": _number(args, "i_end", path, kind=int) if "i_end" in args else -1}
    if out["dt"] <= 0:
        raise reader_error(f"malformed args.yaml: 'dt' is {out['dt']!r}, must be positive", path)
    if out["i_start"] < 0 or out["n_bins"] < 3:
        raise reader_error("malformed args.yaml: 'i_start' must be >= 0 and 'n_bins' >= 3", path)
    vr = args["v_range"]
    if (not isinstance(vr, (list, tuple)) or len(vr) != 4
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vr)):
        raise reader_error(f"malformed args.yaml: 'v_range' is {vr!r}, expected 4 numbers "
                           "[vx_min, vx_max, vy_min, vy_max]", path)
    vr = [float(x) for x in vr]
    if not (np.all(np.isfinite(vr)) and vr[1] > vr[0] and vr[3] > vr[2]):
        raise reader_error(f"malformed args.yaml: 'v_range' {vr} is not two increasing ranges", path)
    if not np.isclose(vr[1] - vr[0], vr[3] - vr[2], rtol=1e-4, atol=0):
        # the operators' stencils need square cells: such a file could not be trained on
        raise reader_error(f"'v_range' {vr} gives non-square bins (vx width {vr[1] - vr[0]:g}, vy width "
                           f"{vr[3] - vr[2]:g} over the same number of bins); collop's solvers need "
                           "equal bin widths along vx and vy", path)
    out["v_range"] = vr
    units = args["v_range_units"]
    if not isinstance(units, str) or not units.strip("[] "):
        raise reader_error(f"malformed args.yaml: 'v_range_units' is {units!r}, expected a unit "
                           "name such as '[v_th]'", path)
    out["v_range_units"] = units.strip().strip("[]").strip()
    tu = args.get("t_units", args.get("time_units"))
    out["time_units"] = str(tu).strip("[] ") if tu else None
    vc = args.get("v_range_c")
    if isinstance(vc, (list, tuple)) and len(vc) == 4 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in vc):
        out["v_range_c"] = [float(x) for x in vc]
    return out


def _frames(hist: Path, args: dict, args_path: Path) -> list[int]:
    numbers = sorted(int(m.group(1)) for x in hist.iterdir() if (m := _FRAME.match(x.name)))
    i0 = args["i_start"]
    last = (args["i_end"] - 1) if args["i_end"] != -1 else (numbers[-1] if numbers else -1)
    if args["i_end"] != -1 and args["i_end"] <= i0:
        raise reader_error(f"malformed args.yaml: 'i_end' {args['i_end']} is not after 'i_start' {i0}",
                           args_path)
    have = set(numbers)
    want = list(range(i0, last + 1))
    missing = [i for i in want if i not in have]
    if not want or missing:
        show = ", ".join(f"{i:06d}.npy" for i in (missing or [i0])[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise reader_error(f"missing frame(s) {show}{more} (frames {i0}..{max(last, i0)} expected "
                           "from args.yaml)", hist)
    return want


def _load(path: Path, n_bins: int) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise reader_error(f"cannot be read as a .npy array ({first_line(exc)})", path) from None
    if a.shape != (n_bins, n_bins):
        raise reader_error(f"histogram has shape {a.shape}, expected ({n_bins}, {n_bins}) from "
                           "args.yaml n_bins", path)
    if not np.issubdtype(a.dtype, np.number):
        raise reader_error(f"histogram has dtype {a.dtype}, expected counts", path)
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise reader_error("histogram has negative, NaN or Inf counts", path)
    return a


def read_refcode(src, populations=None):
    """Read a reference-code dataset folder into a ``phasespace`` dataset.

    Parameters
    ----------
    src : str or path-like
        The dataset folder (one sub-folder per population), or one
        population folder.
    populations : list of str, optional
        Read only these populations (default: all, in name order).

    Returns
    -------
    xarray.Dataset
        ``phasespace`` dataset: ``f`` a density in 1/velocity_units**2,
        ``n_particles`` the first frame's total count, ``time`` in
        ``time_units``, and the frame index as ``frame(time)``.

    Raises
    ------
    ReaderError
        One line naming the file or folder and the problem: missing frames,
        malformed args.yaml, histograms of the wrong shape, populations that
        disagree on frames, grid or units.
    """
    pops = find_refcode_populations(src)
    if populations is not None:
        have = {n for n, _, _ in pops}
        unknown = [n for n in populations if n not in have]
        if unknown:
            raise reader_error(f"no population(s) {', '.join(unknown)}; found {', '.join(sorted(have))}",
                               src)
        pops = [p for p in pops if p[0] in set(populations)]
    ref = None
    F, N, names = [], [], []
    for name, hist, args_path in pops:
        args = _read_args(args_path)
        key = {k: args[k] for k in ("dt", "t_start", "i_start", "n_bins", "v_range",
                                     "v_range_units", "time_units")}
        frames = _frames(hist, args, args_path)
        if ref is None:
            ref, ref_frames, ref_path = key, frames, args_path
        else:
            for k in key:
                same = np.allclose(key[k], ref[k], rtol=1e-9, atol=0) if k in ("dt", "t_start", "v_range") \
                    else key[k] == ref[k]
                if not same:
                    raise reader_error(f"{k} {key[k]!r} differs from {ref[k]!r} of {ref_path}", args_path)
            if frames != ref_frames:
                raise reader_error(f"has frames {frames[0]}..{frames[-1]}, {ref_path.parent} has "
                                   f"{ref_frames[0]}..{ref_frames[-1]}", hist)
        counts = np.stack([_load(hist / f"{i:06d}.npy", args["n_bins"]) for i in frames])
        n0 = counts[0].sum()
        if n0 <= 0:
            raise reader_error("first frame histogram is empty (no counts to normalise by)",
                               hist / f"{frames[0]:06d}.npy")
        F.append(counts / n0)
        N.append(int(round(n0)))
        names.append(name)
    nb = ref["n_bins"]
    vx0, vx1, vy0, vy1 = ref["v_range"]
    ex, ey = np.linspace(vx0, vx1, nb + 1), np.linspace(vy0, vy1, nb + 1)
    vx, vy = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ey[1:] + ey[:-1])
    dvx, dvy = (vx1 - vx0) / nb, (vy1 - vy0) / nb
    f = np.stack(F) / (dvx * dvy)
    time = ref["t_start"] + (np.asarray(ref_frames) - ref["i_start"]) * ref["dt"]
    args0 = _read_args(pops[0][2])
    attrs = {"refcode_dt": ref["dt"], "refcode_i_start": ref["i_start"],
             "normalisation": "f = counts / (n_particles * dvx * dvy); n_particles = total count "
                              "of the first frame"}
    if "v_range_c" in args0 and args0["v_range_c"][1] != args0["v_range_c"][0]:
        attrs["velocity_unit_in_c"] = (args0["v_range_c"][1] - args0["v_range_c"][0]) / (vx1 - vx0)
    if ref["time_units"] is None:
        attrs["time_units_note"] = "args.yaml names no time unit; 1/omega_p assumed"
    ds = phasespace_dataset(f, time, vx, vy, names, N, velocity_units=ref["v_range_units"],
                            time_units=ref["time_units"] or "1/omega_p",
                            source=f"ml-pic-collision-operators folder {Path(src)}", attrs=attrs)
    return ds.assign_coords(frame=("time", np.asarray(ref_frames, dtype=np.int64)))
