"""Scans launched from the Kernel tab, and where the page's sweeps run (a local cluster or a named scheduler)."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from dashboards.kernel_form import LOCAL, Placement
from dashboards.form_checks import parse_floats
from dashboards.scan_form import SCANS, ScanForm


def test_scan_form_defaults_are_the_papers_grids_and_its_specs_expand():
    from collop.sweep import expand, parse_sweep_spec

    f = ScanForm()
    assert f.validate() == ["choose a usable dataset first"]
    pops = [f"p{i}" for i in range(12)]
    f.set_dataset(pops)
    assert f.train == pops[:8] and f.test == pops[8:]
    assert (f.scan, f.scan_values, f.model) == ("n_train", "1, 2, 3, 5, 7", "nn")
    assert f.validate() == []
    spec = f.spec("/data/sim1.nc")
    assert spec["axes"] == {"n_train": [1, 2, 3, 5, 7], "seed": [0, 1, 2]}
    assert spec["base"]["curriculum"] == "ps-nn" and spec["base"]["options"] == {"model": "nn", "symmetry": "isotropic"}
    assert len(expand(parse_sweep_spec(spec), "/tmp/nowhere")) == 15
    f.scan = "options.nt"                             # switching the scan sets its grid and model
    assert (f.scan_values, f.model) == (SCANS["options.nt"][1], "tensor")
    assert f.spec("/d.nc")["axes"]["options.nt"] == [1, 5, 25, 50] and f.spec("/d.nc")["base"]["curriculum"] == "ps-tensor"
    f.scan, f.reg_order = "penalties.reg", 2
    spec = f.spec("/d.nc")
    assert spec["axes"]["penalties.reg"] == [0.0, 1e-6, 1e-5, 1e-4] and spec["base"]["penalties"] == {"reg_order": 2}
    assert len(expand(parse_sweep_spec(spec), "/tmp/nowhere")) == 12


@pytest.mark.parametrize("scan, values, words", [
    ("n_train", "1, 9", "more than the 8 training populations"),
    ("n_train", "0", "below 1"),
    ("options.nt", "five", "not an integer"),
    ("penalties.reg", "1e-5, -1", "finite number >= 0"),
    ("penalties.reg", "nan", "finite number"),
    ("penalties.reg", "", "at least one number"),
])
def test_scan_form_refuses_bad_values_in_one_line(scan, values, words):
    f = ScanForm()
    f.set_dataset([f"p{i}" for i in range(12)])
    f.scan = scan
    f.scan_values = values
    errors = f.validate()
    assert len(errors) == 1 and words in errors[0], errors


def test_scan_form_other_errors():
    f = ScanForm()
    f.set_dataset(["a", "b", "c"])
    f.train, f.test, f.seeds = [], ["zz"], "0, x"
    f.curriculum, f.custom = "custom", "1:oops:3"
    errors = f.validate()
    assert any("unknown populations: zz" in e for e in errors)
    assert "choose at least one training population" in errors
    assert any(e.startswith("seeds:") for e in errors) and any(e.startswith("curriculum:") for e in errors)
    assert parse_floats("0 1e-6,1e-6", "x") == [0.0, 1e-6]


def test_placement_offers_only_the_servers_schedulers():
    p = Placement(["tcp://10.0.0.5:8786"])
    assert p.param.where.objects == [LOCAL, "tcp://10.0.0.5:8786"]
    assert p.launch() == {"workers": 2, "scheduler": None}
    p.where = "tcp://10.0.0.5:8786"
    assert p.launch() == {"workers": 2, "scheduler": "tcp://10.0.0.5:8786"}
    with pytest.raises(ValueError):
        p.where = "tcp://evil:1"                      # not offered: refused by the parameter itself
    assert Placement().param.where.objects == [LOCAL]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_sweep_sent_to_an_unreachable_scheduler_fails_in_one_line(tiny_file, tmp_path):
    """The sweep process checks the scheduler before it writes its index: one line, exit 2, no points."""
    from dashboards.sweep_jobs import SweepJobs, sweep_info

    jobs = SweepJobs(tmp_path)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    spec = {"base": {"data": str(tiny_file), "train": ["centre"], "family": "kernel", "curriculum": "1:1e-2:1"},
            "axes": {"options.k": [1]}}
    sid = jobs.start(spec, scheduler=address)
    assert jobs.wait(sid, timeout=120) == 2
    info = sweep_info(jobs.root / sid)
    assert info["status"] == "failed" and address in info["error"] and "\n" not in info["error"], info
    assert not (jobs.root / sid / "sweep.json").exists() and not list((jobs.root / sid).glob("*/run.json"))


@pytest.mark.slow
def test_a_scan_launched_from_the_page_runs_on_the_servers_scheduler(config, tiny_file):
    """Kernel tab -> Scans: a cut N_dists scan sent to a running scheduler fills its figure; K_y is drawable."""
    import dataclasses

    from distributed import LocalCluster

    from dashboards.kernel_tab import KernelTab
    from dashboards.state import AppState

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        cfg = dataclasses.replace(config, schedulers=[cluster.scheduler_address])
        s = AppState(config=cfg, manager=None)
        assert s.select(cfg.name_of(tiny_file)), s.error
        tab = KernelTab(state=s)
        assert tab.widgets["where"].visible and tab.placement.param.where.objects[1] == cluster.scheduler_address
        tab.placement.where = cluster.scheduler_address
        assert tab.widgets["workers"].disabled
        sv = tab.scans
        f = sv.form
        f.train, f.test = ["centre", "right"], ["down"]
        f.scan_values, f.seeds, f.curriculum = "1, 2", "0", "cut (1 stage, 5 epochs: a smoke test)"
        sv.start.clicks += 1
        assert sv.message.alert_type == "success", sv.message.object
        sid = sv.selects["n_train"].value
        assert sid and sid.startswith("scan-")
        assert tab.jobs.wait(sid, timeout=300) == 0, (tab.jobs.root / sid / "sweep.log").read_text()
        log = (tab.jobs.root / sid / "sweep.log").read_text()
    tab._refresh(force=True)
    assert "2/2 points done" in sv.texts["n_train"].object, sv.texts["n_train"].object
    line, best = sv.views["n_train"].fig.plots[0].lines()
    assert best.label == "best mean"
    np.testing.assert_array_equal(line.x, [1, 2])
    assert np.isfinite(line.y).all()
    assert "LocalCluster" not in log                        # no cluster of its own: it used the scheduler
