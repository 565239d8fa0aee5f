"""The parameters of an MD data set: :class:`MDConfig` (plasma and numerics), :class:`RunSpec` (one run)."""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field

import numpy as np

from .distributions import DISTRIBUTIONS, resolve_params, sample
from .system import MDError, box_length

__all__ = ["RunSpec", "MDConfig"]

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class RunSpec:
    """One MD run: a name and the initial velocity distribution.

    Parameters
    ----------
    name : str
        Run name (letters, digits, ``_``, ``.``, ``-``); the ``run`` coordinate.
    distribution : str
        A key of :data:`~collop.sim.md.distributions.DISTRIBUTIONS`.
    params : dict
        Parameters of the distribution (the rest take their defaults).
    split : {"train", "test"}
        The role the paper gives the run (Appendix C: C1 trains, C2 and BKW test).
    """

    name: str
    distribution: str
    params: dict = field(default_factory=dict, hash=False, compare=True)
    split: str = "train"

    def __post_init__(self):
        # keep the full parameter set, so that equal runs compare equal whether or not their
        # defaults were spelled out; an invalid spec is left as given for MDConfig.check to report
        try:
            object.__setattr__(self, "params", resolve_params(self.distribution, self.params))
        except (MDError, TypeError):
            pass

    def resolved_params(self) -> dict:
        """All parameters of the distribution, defaults included."""
        return resolve_params(self.distribution, self.params)

    def to_dict(self) -> dict:
        return {"name": self.name, "distribution": self.distribution,
                "params": self.resolved_params(), "split": self.split,
                "label": DISTRIBUTIONS[self.distribution].label}

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        return cls(d["name"], d["distribution"], dict(d.get("params") or {}), d.get("split", "train"))


@dataclass(frozen=True)
class MDConfig:
    """Parameters of an MD data set of the one-component plasma.

    Units: lengths in the Wigner-Seitz radius ``a``, times in ``1/omega_p``
    (see :mod:`collop.sim.md.system`).

    Parameters
    ----------
    name : str
        Name (the preset's, or ``"custom"``).
    gamma : float
        Coupling parameter ``Gamma = e^2 / (4 pi eps0 a k_B T)``.
    n : int
        Number of ions.
    runs : tuple of RunSpec
        The runs, one per initial distribution, in file order.
    dt : float
        Time step of the NVE production (velocity Verlet).
    dt_dump : float
        Time between two dumps of the velocities; a multiple of ``dt``.
    t_production : float
        Length of each NVE run; a multiple of ``dt_dump``. Frames:
        ``t_production / dt_dump + 1`` (``t = 0`` included).
    t_equilibration : float
        Thermostat run before the first run, from the initial lattice.
    t_decorrelation : float
        Thermostat run between the starting configurations of consecutive runs.
    dt_thermostat : float
        Time step of the Langevin thermostat.
    friction : float
        Langevin friction (``omega_p``).
    cutoff : float
        PME real-space cutoff (``a``).
    ewald_tolerance : float
        OpenMM's ``ewaldErrorTolerance`` (sets the splitting parameter and grid).
    keep_bits : int or None
        Mantissa bits kept when the float32 velocities are written (rounded to
        nearest; relative error at most ``2**-(keep_bits+1)``), so that gzip
        packs them tighter; ``None`` keeps all 23.
    """

    name: str
    gamma: float
    n: int
    runs: tuple
    dt: float = 0.01
    dt_dump: float = 0.2
    t_production: float = 8.0
    t_equilibration: float = 10.0
    t_decorrelation: float = 2.0
    dt_thermostat: float = 0.02
    friction: float = 1.0
    cutoff: float = 4.0
    ewald_tolerance: float = 3e-4
    keep_bits: int | None = 14

    # --- derived -----------------------------------------------------------------------
    @property
    def steps_per_dump(self) -> int:
        return int(round(self.dt_dump / self.dt))

    @property
    def n_frames(self) -> int:
        return int(round(self.t_production / self.dt_dump)) + 1

    @property
    def times(self) -> np.ndarray:
        """Dump times (``1/omega_p``)."""
        return np.arange(self.n_frames) * self.steps_per_dump * self.dt

    def thermostat_steps(self, t: float) -> int:
        return int(math.ceil(t / self.dt_thermostat - 1e-9)) if t > 0 else 0

    @property
    def total_steps(self) -> int:
        """Force evaluations of the whole data set (thermostat + NVE), for progress and estimates."""
        nve = len(self.runs) * (self.n_frames - 1) * self.steps_per_dump
        th = self.thermostat_steps(self.t_equilibration) + \
            max(len(self.runs) - 1, 0) * self.thermostat_steps(self.t_decorrelation)
        return nve + th

    def replace(self, **changes) -> "MDConfig":
        """A copy with some fields changed (see :func:`dataclasses.replace`), checked."""
        bad = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if bad:
            raise MDError(f"unknown MD parameter(s) {', '.join(bad)}; expected some of "
                          f"{', '.join(f.name for f in dataclasses.fields(self))}")
        cfg = dataclasses.replace(self, **changes)
        cfg.check()
        return cfg

    # --- checks --------------------------------------------------------------------------
    def check(self) -> "MDConfig":
        """Raise :class:`MDError` (one line) on any invalid parameter; return ``self``."""
        def positive(name):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
                raise MDError(f"{name} must be a positive number, got {v!r}")

        for name in ("gamma", "dt", "dt_dump", "t_production", "dt_thermostat", "friction",
                     "cutoff", "ewald_tolerance"):
            positive(name)
        for name in ("t_equilibration", "t_decorrelation"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise MDError(f"{name} must be a non-negative number, got {v!r}")
        if not isinstance(self.n, (int, np.integer)) or isinstance(self.n, bool) or self.n < 8:
            raise MDError(f"n (number of ions) must be an integer >= 8, got {self.n!r}")
        if abs(self.dt_dump / self.dt - round(self.dt_dump / self.dt)) > 1e-6 or self.dt_dump < self.dt:
            raise MDError(f"dt_dump ({self.dt_dump}) must be a whole number of time steps dt ({self.dt})")
        r = self.t_production / self.dt_dump
        if abs(r - round(r)) > 1e-6:
            raise MDError(f"t_production ({self.t_production}) must be a whole number of dumps "
                          f"dt_dump ({self.dt_dump})")
        if self.ewald_tolerance >= 0.1:
            raise MDError(f"ewald_tolerance must be below 0.1, got {self.ewald_tolerance}")
        L = box_length(int(self.n))
        if self.cutoff >= L / 2:
            raise MDError(f"cutoff ({self.cutoff} a) must be below half the box side "
                          f"({L / 2:.4g} a for n = {self.n})")
        if self.keep_bits is not None and (not isinstance(self.keep_bits, (int, np.integer))
                                           or not 1 <= self.keep_bits <= 23):
            raise MDError(f"keep_bits must be None or an integer 1..23, got {self.keep_bits!r}")
        if not isinstance(self.runs, tuple) or not self.runs:
            raise MDError("an MD configuration needs at least one run")
        names = []
        for run in self.runs:
            if not isinstance(run, RunSpec):
                raise MDError(f"runs must be RunSpec objects, got {type(run).__name__}")
            if not isinstance(run.name, str) or not _NAME.match(run.name):
                raise MDError(f"run name {run.name!r} must be letters, digits, '_', '.' or '-'")
            if run.split not in ("train", "test"):
                raise MDError(f"run {run.name!r}: split must be 'train' or 'test', got {run.split!r}")
            names.append(run.name)
            try:
                sample(run.distribution, 16, np.random.default_rng(0), **run.params)
            except MDError as exc:
                raise MDError(f"run {run.name!r}: {exc}") from None
            except (TypeError, ValueError) as exc:
                raise MDError(f"run {run.name!r}: invalid parameters of {run.distribution!r} "
                              f"({exc})") from None
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise MDError(f"repeated run name(s): {', '.join(dup)}")
        return self

    # --- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["runs"] = [r.to_dict() for r in self.runs]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "MDConfig":
        d = dict(d)
        d["runs"] = tuple(RunSpec.from_dict(r) for r in d.get("runs", ()))
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - fields)
        if bad:
            raise MDError(f"unknown MD parameter(s) {', '.join(bad)}")
        return cls(**d).check()

    @classmethod
    def from_json(cls, text: str) -> "MDConfig":
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise MDError(f"not an MD configuration ({type(exc).__name__}: {exc})") from None
