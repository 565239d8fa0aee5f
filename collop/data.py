"""Phase-space records prepared for the solver."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from .grid import VelocityGrid
from .schema import CollopError

__all__ = ["Record", "parse_names", "select_populations"]


def parse_names(spec) -> list[str]:
    """``"a,b,c"`` or a sequence of names -> list of names.

    Commas inside braces stay in the name (``normal_{-1,-1},ring_1.0``).
    """
    if not isinstance(spec, str) and spec is not None:
        return [str(s) for s in spec]
    if spec is None:
        return []
    names, depth, cur = [], 0, ""
    for ch in str(spec):
        if ch == "," and depth == 0:
            names.append(cur)
            cur = ""
            continue
        depth += (ch == "{") - (ch == "}")
        cur += ch
    names.append(cur)
    return [n.strip() for n in names if n.strip()]


def select_populations(ds: xr.Dataset, names) -> list[str]:
    """Check that every name is a population of ``ds``; ``"all"`` selects all."""
    names = parse_names(names)
    have = [str(p) for p in ds["population"].values]
    if names == ["all"]:
        return have
    if not names:
        raise CollopError(f"{ds.encoding.get('source', 'dataset')}: no populations selected")
    missing = [n for n in names if n not in have]
    if missing:
        raise CollopError(f"{ds.encoding.get('source', 'dataset')}: unknown population(s) "
                          f"{', '.join(missing)}; the file has {', '.join(have)}")
    return names


@dataclass
class Record:
    """The populations of a phase-space dataset as one tensor.

    Attributes
    ----------
    f : Tensor, shape (P, T, N, M)
        Densities in *grid units*: ``f * h**2 * N * M``, so a distribution
        spread evenly over the grid has the value 1 everywhere.
    times : ndarray (T,)
        Frame times (time units).
    grid : VelocityGrid
    names : list of str
    scale : float
        ``h**2 * N * M``: multiply data densities by it to get grid units.
    """

    f: torch.Tensor
    times: np.ndarray
    grid: VelocityGrid
    names: list
    scale: float
    velocity_units: str
    time_units: str

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, names, dtype=torch.float32, *, smooth: float = 0.0) -> "Record":
        """The populations ``names`` of a phase-space dataset.

        Parameters
        ----------
        smooth : float
            Standard deviation (in bins) of a Gaussian filter applied to every
            frame in velocity (reflecting edges, so each frame's mass is kept).
            0 (default) uses the histograms as they are, as in the paper.

        Notes
        -----
        Unrolls start from data frames. With histogram noise, a one-step
        prediction from a noisy frame is closer (in MAE) to the next noisy frame
        when the operator also smooths the start frame's noise, so training on
        raw histograms biases the diffusion upwards (measured on the Langevin
        set: README, "Noise bias"). Smoothing start and target frames alike
        removes most of that incentive; it changes the dynamics only through
        the commutator of the filter with the operator, ``O((sigma h / L)^2)``
        for coefficients varying on a scale ``L``.
        """
        names = select_populations(ds, names)
        src = ds.encoding.get("source", "dataset")
        try:
            grid = VelocityGrid.from_dataset(ds)
        except ValueError as exc:
            raise CollopError(f"{src}: {exc}") from None
        scale = grid.h ** 2 * grid.shape[0] * grid.shape[1]
        f = np.asarray(ds["f"].sel(population=names).values, dtype=np.float64) * scale
        empty = [n for n, fp in zip(names, f) if not np.any(fp)]
        if empty:
            raise CollopError(f"{src}: population(s) {', '.join(empty)} hold no particles on the grid "
                              "(f is zero in every frame)")
        if smooth:
            if smooth < 0:
                raise CollopError(f"smooth must be >= 0 bins, got {smooth}")
            if smooth > max(grid.shape):
                raise CollopError(f"smooth {smooth:g} bins is wider than the grid ({grid.shape[0]} x "
                                  f"{grid.shape[1]} bins)")
            from scipy.ndimage import gaussian_filter
            f = gaussian_filter(f, (0, 0, float(smooth), float(smooth)), mode="reflect")
        return cls(torch.as_tensor(f, dtype=dtype), np.asarray(ds["time"].values, dtype=float),
                   grid, names, scale, ds.attrs["velocity_units"], ds.attrs["time_units"])

    @property
    def dt(self) -> np.ndarray:
        """Frame intervals ``t[k+1] - t[k]`` (time units)."""
        return np.diff(self.times)
