"""Where a sweep runs (:mod:`collop.sweep.cluster`): a bad scheduler is one line, before anything starts."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from collop.options import SpecError
from collop.sweep import Cluster, connect


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]                # nothing listens there once the socket closes


@pytest.mark.parametrize("address, words", [
    ("", "scheduler: empty address"),
    ("no:such:address", "not a scheduler address"),
    ("tcp://127.0.0.1", "not a scheduler address"),
])
def test_malformed_addresses(address, words):
    with pytest.raises(SpecError, match=words) as exc:
        connect(address, timeout=1)
    assert exc.value.field == "scheduler" and "\n" not in str(exc.value)


def test_scheduler_files(tmp_path):
    with pytest.raises(SpecError, match="scheduler file .*missing.json does not exist"):
        connect(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no_address": 1}))
    with pytest.raises(SpecError, match="bad.json is not a scheduler file"):
        connect(str(bad))


def test_a_refused_connection_fails_at_once():
    port = _closed_port()
    t0 = time.perf_counter()
    with pytest.raises(SpecError, match=f"scheduler tcp://127.0.0.1:{port}: cannot connect"):
        connect(f"tcp://127.0.0.1:{port}", timeout=5)
    assert time.perf_counter() - t0 < 5          # refused, not timed out


def test_a_listener_that_is_not_a_scheduler():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    conns = []
    th = threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True)
    th.start()
    try:
        with pytest.raises(SpecError, match="no dask scheduler answers there within 1 s"):
            connect(f"tcp://127.0.0.1:{srv.getsockname()[1]}", timeout=1)
    finally:
        for c, _ in conns:
            c.close()
        srv.close()


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_a_local_cluster_needs_a_positive_number_of_workers(workers):
    with pytest.raises(SpecError, match="workers: expected a positive number of workers") as exc:
        Cluster(workers=workers)
    assert exc.value.field == "workers"


def test_describe_names_where_it_runs():
    assert Cluster(workers=3).describe() == "local cluster, 3 worker(s)"
    assert Cluster(scheduler="tcp://h:8786").describe() == "scheduler tcp://h:8786"
