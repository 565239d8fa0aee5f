"""Fixtures of the pipeline tests: a tiny phase-space file and a way to run ``collop`` in a process."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from collop.datasets import isotropic_operator_dataset, phasespace_dataset
from collop.grid import VelocityGrid
from collop.io import write_dataset
from collop.metrics import rollout

ROOT = Path(__file__).resolve().parents[2]
GRID = VelocityGrid.regular(15, 3.0)
TIMES = np.arange(6.0)
#: a training that takes minutes: tests stop or kill it
LONG = "1:1e-3:1000000"


def tiny_phasespace():
    """Three Gaussians rolled forward by a known isotropic operator: 15 x 15 bins, 6 frames."""
    s = GRID.speed_nodes()
    nt = TIMES.size
    truth = isotropic_operator_dataset(TIMES, s, -0.05 * s[None] * np.ones((nt, 1)), np.full((nt, s.size), 0.02),
                                       np.full((nt, s.size), 0.03), method="truth", velocity_units="u",
                                       time_units="t", source="test")
    VX, VY = GRID.mesh()
    f0 = []
    for mx, my in [(0.0, 0.0), (-1.0, 0.0), (1.0, 1.0)]:
        f = np.exp(-((VX - mx) ** 2 + (VY - my) ** 2) / (2 * 0.5 ** 2))
        f0.append(f / (f.sum() * GRID.h ** 2))
    F = np.repeat(np.array(f0)[:, None], nt, 1)
    ds = phasespace_dataset(F, TIMES, GRID.vx, GRID.vy, ["a", "b", "c"], [1000] * 3, velocity_units="u",
                            time_units="t", source="test")
    ds["f"].values[:] = np.clip(rollout(truth, ds, ["a", "b", "c"]).values, 0, None)
    return ds, truth


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    ds, truth = tiny_phasespace()
    write_dataset(ds, d / "ps.nc")
    write_dataset(truth, d / "truth.nc")
    return d


def collop_process(*argv, **kw) -> subprocess.Popen:
    """``python -m collop ARGV`` in its own process (one thread), output captured as text."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "collop", *map(str, argv)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(cond, timeout=120.0, step=0.05, proc=None):
    """Poll ``cond()`` until true; fail (showing the process's output) after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended ({proc.returncode}) first:\n{out}\n{err}")
        time.sleep(step)
    raise AssertionError("timed out")


def n_epochs(run_dir: Path) -> int:
    from collop.runs import RunFolder

    return sum(e.get("event") == "epoch" for e in RunFolder(run_dir).events())
