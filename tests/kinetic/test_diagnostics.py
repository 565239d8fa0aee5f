"""Diagnostics (:mod:`collop.kinetic.diagnostics`): moments, entropy, distances, PDFs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from collop.kinetic.diagnostics import (conservation, energy_distance, entropy_knn, moments, pdf_l1,
                                        pdf_series)


def test_moments_and_conservation_series():
    g = np.random.default_rng(0)
    v = g.normal(size=(3, 500, 3)) + [0.1, 0.0, 0.0]
    m = moments(v)
    assert m["n"].tolist() == [500] * 3
    assert np.allclose(m["momentum"], v.mean(1)) and np.allclose(m["energy"], 0.5 * (v ** 2).sum(-1).mean(-1))
    c = conservation(v, [0.0, 1.0, 2.0], entropy=False)
    assert float(c["energy_drift"][0]) == 0 and c["momentum"].dims == ("time", "component")


def test_knn_entropy_of_a_gaussian():
    """Gaussian with variances (2, 0.5, 1): S = 3/2 log(2 pi e) + 1/2 log(det); within 0.03 nats at N = 20000
    (the estimator's bias and noise at this size are ~0.01)."""
    g = np.random.default_rng(1)
    T = np.array([2.0, 0.5, 1.0])
    v = g.normal(size=(20_000, 3)) * np.sqrt(T)
    exact = 1.5 * math.log(2 * math.pi * math.e) + 0.5 * math.log(T.prod())
    assert abs(entropy_knn(v) - exact) < 0.03


def test_energy_distance_is_a_distance():
    g = np.random.default_rng(2)
    x, y = g.normal(size=(1500, 3)), g.normal(size=(1500, 3))
    shifted = y + [0.5, 0.0, 0.0]
    assert energy_distance(x, x, max_points=None) == pytest.approx(0.0, abs=1e-12)
    d_same, d_shift = energy_distance(x, y, max_points=None), energy_distance(x, shifted, max_points=None)
    assert d_shift > 3 * d_same
    # rotation invariant
    Q = np.linalg.qr(g.normal(size=(3, 3)))[0]
    assert energy_distance(x @ Q.T, shifted @ Q.T, max_points=None) == pytest.approx(d_shift, rel=1e-10)


def test_pdf_l1_and_series():
    g = np.random.default_rng(3)
    x, y = g.normal(size=(4000, 3)), 1.5 * g.normal(size=(4000, 3))
    for kind in ("speed", "v12", "marginal"):
        assert 0 <= pdf_l1(x, x, kind=kind) < 1e-12
        assert pdf_l1(x, y, kind=kind) > 0.2
    with pytest.raises(ValueError):
        pdf_l1(x, y, kind="cube")
    ds = pdf_series(np.stack([x, y]), [0.0, 1.0], vmax=7.0, bins=20)
    assert ds["v12"].dims == ("time", "v1", "v2") and ds["marginal"].sizes["component"] == 3
    inside = ds["speed_pdf"].sum("speed") * (7.0 / 20)
    assert np.all(inside <= 1 + 1e-12) and np.all(inside > 0.95)
