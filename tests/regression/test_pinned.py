"""Short 1-thread runs on the shipped data reproduce the pinned outputs (``pins.json``).

The pins were written by ``make_pins.py`` before the pipeline/solver refactor;
every later change that is not meant to change results must keep them. The
tolerance, relative 1e-6 (absolute: 1e-6 of the array's largest magnitude,
for entries near zero), allows the order of floating-point sums to change in
the kernels and nothing else: a float32 training that took a different step
would differ at 1e-4 or more after a few epochs. (An adjoint kernel that sums
over populations before accumulating moved one PS-NN diffusion entry of
2.4e-6, 1/100 of its array's scale, by 1.1e-11.)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from collop.cli import main

from . import make_pins

PINS = json.loads((Path(__file__).parent / "pins.json").read_text())
RTOL, ATOL = 1e-6, 1e-12


def _close(a, b, what):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, what
    atol = max(ATOL, RTOL * float(np.abs(b).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=atol, err_msg=what)


def _compare_operator(got: dict, pin: dict, what: str):
    assert sorted(got) == sorted(pin), what
    for name, p in pin.items():
        g = got[name]
        assert g["shape"] == p["shape"], f"{what} {name} shape"
        _close(g["sum"], p["sum"], f"{what} {name} sum")
        _close(g["sumsq"], p["sumsq"], f"{what} {name} sumsq")
        _close(g["values"], p["values"], f"{what} {name} values")


def _compare_metrics(got: dict, pin: dict, what: str):
    for k, v in pin.items():
        if isinstance(v, dict):
            assert sorted(got[k]) == sorted(v), f"{what} {k}"
            for n in v:
                _close(got[k][n], v[n], f"{what} {k} {n}")
        else:
            _close(got[k], v, f"{what} {k}")


@pytest.fixture(scope="module")
def pinned_runs(tmp_path_factory, monkeypatch_module):
    tmp = tmp_path_factory.mktemp("pinned")
    monkeypatch_module.setattr(make_pins, "collop",
                               lambda *argv: _ok(main(["--threads", "1", "-q", *argv])))
    return make_pins.make(tmp)


def _ok(rc):
    assert rc == 0


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.mark.parametrize("name", sorted(PINS["trainings"]))
def test_training_reproduces_pins(pinned_runs, name):
    got, pin = pinned_runs["trainings"][name], PINS["trainings"][name]
    _compare_operator(got["operator"], pin["operator"], name)
    _compare_metrics(got["metrics"], pin["metrics"], name)


def test_evaluate_truth_reproduces_pins(pinned_runs):
    _compare_metrics(pinned_runs["evaluate_truth"], PINS["evaluate_truth"], "evaluate truth")


def test_tracks_reproduces_pins(pinned_runs):
    _compare_operator(pinned_runs["tracks"]["operator"], PINS["tracks"]["operator"], "tracks")
    _compare_metrics(pinned_runs["tracks"]["metrics"], PINS["tracks"]["metrics"], "tracks")
