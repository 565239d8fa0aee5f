"""Smoke test of the pipic cross-check (benchmarks/pipic_crosscheck.py --quick).

A 32x32-cell sim1-like box (4096 particles), 8/omega_p, the same initial particles
in pipic (EM) and collop (ES) at the paper's step c dt = 0.98 dx / sqrt(2):
both start at the waterbag's kurtosis 2, both move toward 3, and they agree.
Skipped when the optional ``crosscheck`` extra (pipic) is not installed.
"""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pipic", reason="pipic (optional extra 'crosscheck') not installed")
pytest.importorskip("collop.sim.pic.engine", reason="collop's PIC engine not available")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "pipic_crosscheck.py"


def _load():
    spec = importlib.util.spec_from_file_location("pipic_crosscheck", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["pipic_crosscheck"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_waterbag_kurtosis_is_two():
    pc = _load()
    assert pc.kurtosis_waterbag() == pytest.approx(2.0)
    rng_vx, rng_vy = pc.initial_velocities(200_000, 2.0, 1)
    assert pc.kurt(rng_vx) == pytest.approx(2.0, abs=0.02)


def test_quick_crosscheck(tmp_path, monkeypatch):
    import numba
    import torch

    pc = _load()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nt_torch, nt_numba = torch.get_num_threads(), numba.get_num_threads()
    try:
        out = pc.main(["--quick", "--skip-preset-dt", "--seeds", "0", "--t-max", "8", "--quiet",
                       "--out", str(tmp_path / "xc")])
    finally:  # main() pins the thread counts; give the rest of the session its own back
        torch.set_num_threads(nt_torch)
        numba.set_num_threads(nt_numba)
    assert (tmp_path / "xc.json").exists() and (tmp_path / "xc.png").exists()
    runs = out["runs"]
    k = {key: 0.5 * (np.asarray(runs[key]["series"]["kurt_x"]) + runs[key]["series"]["kurt_y"])
         for key in ("pipic_cfl", "collop_cfl")}
    for key, kk in k.items():
        assert abs(kk[0] - 2.0) < 0.06, key                # waterbag start
        assert kk[-1] > kk[0] + 0.04, key                  # moving toward 3
        tot = np.asarray(runs[key]["series"]["total"])
        assert np.abs(tot / tot[0] - 1).max() < 0.01, key  # energy within 1 %
    # same particles, same step: the two engines agree closely over 8 plasma periods
    assert np.abs(k["pipic_cfl"] - k["collop_cfl"]).max() < 0.03
    # the EM run stays electrostatic-like at this step: magnetic << electric energy
    assert runs["pipic_cfl"]["energy"]["B_over_E_mean"] < 0.05
