"""Fixtures of the sweep tests: a tiny phase-space file, its truth, and one local dask cluster.

The cluster (2 worker processes, 1 thread each) is shared by the tests of the
session, so its start and the workers' imports are paid once. The test that
kills a worker leaves the cluster with a fresh worker (the nanny restarts it).
"""
from __future__ import annotations

import importlib
import json

import pytest

from collop.io import write_dataset


@pytest.fixture(scope="session")
def sweep_files(tmp_path_factory, fp_data):
    """``ps.nc`` (fp_data: 4 populations, 21 x 21 bins, 10 frames) and ``truth.nc`` (its operator)."""
    d = tmp_path_factory.mktemp("sweep-data")
    write_dataset(fp_data.ds, d / "ps.nc")
    write_dataset(fp_data.truth_ds, d / "truth.nc")
    return d


@pytest.fixture(scope="session")
def cluster():
    """A ``collop.sweep.Cluster`` of 2 local workers, imports warmed up."""
    from collop.sweep import Cluster

    with Cluster(workers=2) as cl:
        cl.client.run(importlib.import_module, "collop.pipeline.train")
        yield cl


@pytest.fixture()
def client(cluster):
    return cluster.client


def base_spec(sweep_files, **kw) -> dict:
    """A short PS-Tensor training on the tiny file (time-invariant, 30 epochs)."""
    base = {"data": str(sweep_files / "ps.nc"), "train": ["centre", "right"], "test": ["down"],
            "options": {"model": "tensor", "nt": 1}, "curriculum": "1:1e-2:30"}
    base.update(kw)
    return base


def read_json(path):
    return json.loads(path.read_text())
