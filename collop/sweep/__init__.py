"""Sweeps: many independent trainings on dask.distributed, and cross-validated selection.

A sweep is a base train spec and a grid of values; each point is a normal
run folder inside the sweep folder, which indexes them (``sweep.json``) and
logs their progress (``events.jsonl``). The modules:

* :mod:`~collop.sweep.grid`: the spec format and its expansion into points
  (:mod:`~collop.sweep.spec` parses and checks a spec);
* :mod:`~collop.sweep.runner`: :func:`run_sweep`, which drives the points,
  and the sweep folder's layout, resume and faults;
* :mod:`~collop.sweep.checks`: the checks made before anything is written;
* :mod:`~collop.sweep.cluster`: a local cluster or a running scheduler;
* :mod:`~collop.sweep.point`: one point on a dask worker (resume, restart,
  failure records);
* :mod:`~collop.sweep.folder` and :mod:`~collop.sweep.progress`: the folder,
  and its index and events while the points run;
* :mod:`~collop.sweep.select`: a setting chosen by holding out one training
  population at a time;
* :mod:`~collop.sweep.table`: a sweep folder as a table for plots.

>>> from collop.sweep import run_sweep, sweep_table, summarize        # doctest: +SKIP
>>> spec = {"base": {"data": "data/langevin.nc", "train": ["normal_0_0", "normal_-1_0"],
...                  "options": {"model": "tensor", "nt": 1}, "curriculum": "1:1e-2:50"},
...         "axes": {"penalties.reg_velocity": [0, 1e-3], "seed": [0, 1]}}
>>> result = run_sweep(spec, "sweeps/demo", workers=2)
>>> summarize(sweep_table("sweeps/demo"), by="penalties.reg_velocity")
"""
from __future__ import annotations

from .cluster import Cluster, connect
from .folder import SweepFolder, SweepResult
from .grid import Point, SweepSpec, expand, load_sweep_spec, parse_sweep_spec, point_label
from .point import DONE
from .runner import run_sweep
from .select import (SelectionResult, SelectSpec, aggregate, load_select_spec, parse_select_spec,
                     run_selection)
from .table import read_sweep, summarize, sweep_table, to_xarray

__all__ = ["run_sweep", "SweepSpec", "Point", "SweepResult", "SweepFolder", "Cluster", "connect", "DONE",
           "parse_sweep_spec", "load_sweep_spec", "expand", "point_label", "run_selection", "SelectSpec",
           "SelectionResult", "parse_select_spec", "load_select_spec", "aggregate", "read_sweep",
           "sweep_table", "summarize", "to_xarray"]
