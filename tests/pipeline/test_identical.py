"""The command line, the pipeline called directly and the app leave identical run folders."""
from __future__ import annotations

import json

import numpy as np

from collop.cli import main
from collop.io import open_dataset
from collop.pipeline import TrainSpec, run
from collop.runs import RunFolder

VOLATILE = {"id", "created", "updated", "pid", "host", "resumed", "time", "seconds", "train_seconds"}


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if k not in VOLATILE and k != "out"}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _folder(d):
    info = json.loads((d / "run.json").read_text())
    op = open_dataset(d / "operator.nc", "operator")
    return {"run": _clean(info), "events": _clean(RunFolder(d).events()),
            "metrics": _clean(json.loads((d / "metrics.json").read_text())),
            "operator": {k: op[k].values for k in op.data_vars},
            "attrs": _clean(dict(op.attrs)),
            "files": sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.name not in ("log.txt", "job.json"))}


def test_cli_pipeline_and_app_write_the_same_run_folder(tiny, tmp_path):
    from dashboards.jobs import JobManager

    kw = dict(data=str(tiny / "ps.nc"), train=["a", "b"], test=["c"], options={"model": "tensor", "nt": 2},
              penalties={"reg": 1e-3}, curriculum="1:1e-2:30,2:1e-2:30", seed=3)
    run(TrainSpec(**kw, out=str(tmp_path / "lib")))
    assert main(["-q", "train", "fp", kw["data"], "--train", "a,b", "--test", "c", "--model", "tensor", "--nt", "2",
                 "--reg", "1e-3", "--curriculum", kw["curriculum"], "--seed", "3",
                 "--out", str(tmp_path / "cli")]) == 0
    m = JobManager(tmp_path / "runs", warm=False)
    try:
        rid = m.start(TrainSpec(**kw, out="ignored"))
        assert m.wait(rid, timeout=300) == 0
    finally:
        m.close()
    app_dir = m.runs_root / rid
    lib, cli, app = _folder(tmp_path / "lib"), _folder(tmp_path / "cli"), _folder(app_dir)
    for other in (cli, app):
        assert other["run"] == lib["run"]
        assert other["events"] == lib["events"]
        assert other["metrics"] == lib["metrics"]
        assert other["attrs"] == lib["attrs"]
        assert other["files"] == lib["files"]
        for k, v in lib["operator"].items():
            np.testing.assert_array_equal(other["operator"][k], v)
