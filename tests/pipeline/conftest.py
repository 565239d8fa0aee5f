"""Fixtures of the pipeline tests: a tiny phase-space file and a way to run ``collop`` in a process."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collop.io import write_dataset
from synthetic import GRID, TIMES, tiny_phasespace  # noqa: F401  (re-exported for the pipeline tests)

ROOT = Path(__file__).resolve().parents[2]
#: a training that takes minutes: tests stop or kill it
LONG = "1:1e-3:1000000"


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
