"""The velocity grid of a phase-space dataset."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VelocityGrid"]


@dataclass(frozen=True)
class VelocityGrid:
    """A uniform 2-D velocity grid of bin centres.

    Parameters
    ----------
    vx, vy : ndarray
        Uniform bin centres, in the dataset's ``velocity_units``. The spacing
        must be the same along both axes (the Fokker-Planck stencil assumes
        square cells).
    """

    vx: np.ndarray
    vy: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "vx", np.asarray(self.vx, dtype=float))
        object.__setattr__(self, "vy", np.asarray(self.vy, dtype=float))
        hx, hy = np.diff(self.vx).mean(), np.diff(self.vy).mean()
        if not np.isclose(hx, hy, rtol=1e-4):
            raise ValueError(f"grid spacing differs between vx ({hx:g}) and vy ({hy:g})")

    @classmethod
    def from_dataset(cls, ds) -> "VelocityGrid":
        return cls(ds["vx"].values, ds["vy"].values)

    @classmethod
    def regular(cls, n: int = 51, vmax: float = 5.0) -> "VelocityGrid":
        """``n x n`` bins whose edges span ``[-vmax, vmax]`` on both axes."""
        edges = np.linspace(-vmax, vmax, n + 1)
        c = 0.5 * (edges[1:] + edges[:-1])
        return cls(c, c)

    @property
    def h(self) -> float:
        """Bin width (velocity units)."""
        return float(np.diff(self.vx).mean())

    @property
    def shape(self) -> tuple[int, int]:
        return (self.vx.size, self.vy.size)

    @property
    def edges_x(self) -> np.ndarray:
        return np.concatenate([self.vx - self.h / 2, [self.vx[-1] + self.h / 2]])

    @property
    def edges_y(self) -> np.ndarray:
        return np.concatenate([self.vy - self.h / 2, [self.vy[-1] + self.h / 2]])

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre velocities ``(VX, VY)`` with ``indexing='ij'``."""
        return np.meshgrid(self.vx, self.vy, indexing="ij")

    @property
    def corner_speed(self) -> float:
        """Largest cell-centre speed on the grid."""
        return float(np.hypot(np.abs(self.vx).max(), np.abs(self.vy).max()))

    def speed_nodes(self, spacing: float | None = None) -> np.ndarray:
        """Speeds from 0 to the grid corner with the given spacing (default: one bin)."""
        d = self.h if spacing is None else spacing
        n = int(np.ceil(self.corner_speed / d - 1e-9)) + 1
        return np.arange(n) * d
