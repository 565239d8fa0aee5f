"""Job specs: what a run is, as data.

A job spec is a frozen dataclass that round-trips through JSON
(:func:`spec_to_json` / :func:`spec_from_json`). The command line builds one
from its arguments, the app from its form, a sweep for each of its points;
:func:`collop.pipeline.run` runs it. The spec that made a run is recorded in
its ``run.json`` (``spec``), so ``collop run`` can run it again.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

from pydantic import Field

from ..options import Names, SpecError, options, parse, to_dict

__all__ = ["TrainSpec", "TracksSpec", "SPECS", "spec_from_json", "spec_from_dict", "spec_to_json",
           "spec_to_dict", "MAX_SEED"]

#: Seeds are integers in [0, MAX_SEED] everywhere in collop (numpy and torch both accept them).
MAX_SEED = 2**32 - 1


@options
class TrainSpec:
    """Train an operator of a registered family.

    Attributes
    ----------
    data : str
        The training file (a phase-space file for grid families).
    train : tuple of str
        Training populations (runs, for particle data).
    test : tuple of str, optional
        Test populations, scored after training (default: all); may overlap ``train``.
    family : str
        Operator family (:mod:`collop.operators.registry`), e.g. ``fokker_planck``.
    options : dict
        The family's options (``Family.Options``: model, symmetry, ...).
    penalties : dict
        The family's penalty weights (``Family.Penalties``).
    objective : dict
        Options of the family's objective (``RolloutOptions``: smoothing, precision).
    curriculum : str, optional
        A curriculum name or ``N_u:lr:epochs,...``; default the family's.
    seed : int
        Seed of the initialisation and of any sampling, in ``[0, 2**32 - 1]``.
    threads : int
        CPU threads of torch and the kernels.
    out : str
        The run folder.
    """

    data: str = Field(min_length=1)
    train: Names = Field(min_length=1)
    out: str = Field(min_length=1)
    kind: Literal["train"] = "train"
    test: Names | None = None
    family: str = "fokker_planck"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    penalties: dict[str, Any] = dataclasses.field(default_factory=dict)
    objective: dict[str, Any] = dataclasses.field(default_factory=dict)
    curriculum: str | None = None
    seed: int = Field(0, ge=0, le=MAX_SEED)
    threads: int = Field(1, ge=1, le=1024)


@options
class TracksSpec:
    """Estimate a Fokker-Planck operator from particle tracks (the Tracks method).

    Attributes
    ----------
    particles : str
        The particles file.
    ndump : int
        Interval length in frames.
    overlap : bool
        Overlapping intervals.
    symmetry : {"isotropic", "full"}
    grid_from : str, optional
        A phase-space file whose velocity grid to use.
    n_bins : int, optional
        Bins per axis when no ``grid_from`` (default 51).
    vmax : float, optional
        Grid half-width in velocity units (default from the data).
    data : str, optional
        A phase-space file to score the operator on (``metrics.json``).
    test : tuple of str, optional
        Populations of ``data`` to score on (default: all).
    threads : int
    out : str
        The run folder.
    """

    particles: str = Field(min_length=1)
    ndump: int = Field(ge=1)
    out: str = Field(min_length=1)
    kind: Literal["tracks"] = "tracks"
    overlap: bool = False
    symmetry: Literal["isotropic", "full"] = "isotropic"
    grid_from: str | None = None
    n_bins: int | None = Field(None, ge=3, le=4096)
    vmax: float | None = Field(None, gt=0, allow_inf_nan=False)
    data: str | None = None
    test: Names | None = None
    threads: int = Field(1, ge=1, le=1024)


#: job kind -> spec class
SPECS: dict[str, type] = {"train": TrainSpec, "tracks": TracksSpec}


def spec_from_dict(d: dict):
    """The spec of a job from a dict with a ``kind`` (default ``train``)."""
    if not isinstance(d, dict):
        raise SpecError(f"a job spec is a JSON object, not {type(d).__name__}")
    kind = d.get("kind", "train")
    if kind not in SPECS:
        raise SpecError(f"kind: unknown job kind {kind!r}; known: {', '.join(SPECS)}", field="kind")
    return parse(SPECS[kind], d)


def spec_from_json(text):
    """The spec of a job from its JSON text."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    return spec_from_dict(d)


def spec_to_dict(spec) -> dict:
    return to_dict(spec)


def spec_to_json(spec, indent: int | None = 2) -> str:
    return json.dumps(to_dict(spec), indent=indent)
