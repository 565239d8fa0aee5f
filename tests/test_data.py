"""collop.data: records prepared for the solver."""
import numpy as np
import pytest

from collop.data import Record, select_populations
from collop.datasets import phasespace_dataset
from collop.grid import VelocityGrid
from collop.schema import CollopError


@pytest.fixture
def noisy():
    grid = VelocityGrid.regular(21, 4.0)
    rng = np.random.default_rng(0)
    f = rng.poisson(20.0, (2, 3, 21, 21)).astype(float)
    f /= f.sum(axis=(-2, -1), keepdims=True) * grid.h ** 2
    return phasespace_dataset(f, [0.0, 1.0, 2.0], grid.vx, grid.vy, ["a", "b"], [100, 100],
                              velocity_units="u", time_units="t", source="test")


def test_grid_units_and_smoothing_keeps_mass(noisy):
    raw = Record.from_dataset(noisy, ["a", "b"])
    sm = Record.from_dataset(noisy, ["a", "b"], smooth=1.0)
    # grid units: a distribution spread evenly over the grid is 1, so the mean is 1
    np.testing.assert_allclose(raw.f.double().mean(dim=(-2, -1)).numpy(), 1.0, rtol=1e-6)
    # reflecting edges keep each frame's mass (float32 round-off)
    np.testing.assert_allclose(sm.f.double().sum(dim=(-2, -1)).numpy(),
                               raw.f.double().sum(dim=(-2, -1)).numpy(), rtol=1e-5)
    # a Gaussian of one bin cuts white noise's variance ~ 1/(4 pi) ~ 0.08; require < 0.2
    assert float(sm.f.var()) < 0.2 * float(raw.f.var())


def test_bad_smooth_and_unknown_population(noisy):
    with pytest.raises(CollopError, match="smooth"):
        Record.from_dataset(noisy, ["a"], smooth=-1.0)
    with pytest.raises(CollopError, match="unknown population.*zz"):
        select_populations(noisy, "a,zz")
    assert select_populations(noisy, "all") == ["a", "b"]
