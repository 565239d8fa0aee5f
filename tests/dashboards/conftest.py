"""Fixtures of the app's tests: a tiny phase-space file, configs on temporary folders."""
from __future__ import annotations

import pytest

from collop.io import write_dataset


@pytest.fixture(scope="session", autouse=True)
def _panel():
    import panel as pn

    pn.extension("tabulator")


@pytest.fixture
def roots(tmp_path):
    """Folders: data (a root), runs, uploads, and an outside folder."""
    d = {k: tmp_path / k for k in ("data", "runs", "uploads", "outside")}
    for p in d.values():
        p.mkdir()
    return d


@pytest.fixture
def tiny_file(fp_data, roots):
    """The conftest's 4-population, 10-frame, 21x21 record as a file in the data root."""
    path = roots["data"] / "tiny.nc"
    write_dataset(fp_data.ds, path)
    return path


@pytest.fixture
def config(roots):
    from dashboards.config import SHIPPED_DATA, Config

    return Config.build([SHIPPED_DATA, roots["data"]], runs=roots["runs"], uploads=roots["uploads"])
