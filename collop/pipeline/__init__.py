"""One pipeline for every run: a job spec in, a run folder out.

>>> from collop.pipeline import TrainSpec, run                          # doctest: +SKIP
>>> spec = TrainSpec(data="data/langevin.nc", train=["normal_0_0"], out="runs/x",
...                  options={"model": "tensor"}, curriculum="1:1e-2:10")
>>> result = run(spec)

The command line, the app's workers, sweeps and benchmarks all build specs
and call :func:`run`.
"""
from .context import RunResult, StopFlag
from .core import JOBS, register_job, run
from .evaluate import evaluate_file
from .signals import handle_signals
from .spec import (SPECS, TracksSpec, TrainSpec, spec_from_dict, spec_from_json, spec_to_dict,
                   spec_to_json)
from .train import resolve

__all__ = ["run", "TrainSpec", "TracksSpec", "RunResult", "StopFlag", "handle_signals", "resolve",
           "evaluate_file", "spec_from_json", "spec_from_dict", "spec_to_json", "spec_to_dict", "SPECS",
           "JOBS", "register_job"]
