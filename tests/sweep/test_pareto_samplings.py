"""``benchmarks/pareto_samplings.py``: kernel points of several sweep folders (and records) pooled into one Pareto table."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from pareto_samplings import main  # noqa: E402

TEST = ["t1", "t2"]


def _point(pid, family, data, mae, *, status="finished", **options):
    spec = {"data": data, "train": ["a"], "test": TEST, "family": family, "options": options, "seed": 0}
    return {"id": pid, "values": {}, "status": status, "error": None, "attempts": 1,
            "metrics": {"rollout_mae": mae} if mae is not None else {}, "spec": spec}


def _sweep(folder: Path, points) -> Path:
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"collop_sweep": 1, "name": folder.name, "status": "finished",
                                                   "spec": {}, "points": points}))
    return folder


def test_pools_samplings_records_and_baselines(tmp_path):
    rng = np.random.default_rng(3)
    e = {(k, d): float(rng.uniform(1e-3, 1e-1)) for k in (1, 2) for d in ("s1.nc", "s2.nc", "s0.nc")}
    a = _sweep(tmp_path / "a", [_point(f"k{k}", "kernel", "s1.nc", e[k, "s1.nc"], k=k, scheme="forward")
                                for k in (1, 2)])
    b = _sweep(tmp_path / "b", [_point(f"k{k}", "kernel", "s2.nc", e[k, "s2.nc"], k=k, scheme="forward")
                                for k in (1, 2)] + [_point("k3", "kernel", "s2.nc", None, k=3, scheme="forward",
                                                           status="pending")])
    rec = tmp_path / "seed0.json"
    rec.write_text(json.dumps([{"k": k, "scheme": "forward", "data": "s0.nc", "rollout_mae": e[k, "s0.nc"],
                                "source": "an earlier sweep"} for k in (1, 2)]
                              + [{"k": 2, "scheme": "backward", "data": "s0.nc", "rollout_mae": 24.0,
                                  "status": "diverged"}]))
    base = _sweep(tmp_path / "base", [_point(f"p{i}", "fokker_planck", d, 0.01 * (i + 1), model="tensor",
                                             symmetry="isotropic") for i, d in enumerate(["s0.nc", "s1.nc"])])
    out_json, out_png = tmp_path / "figs" / "p.json", tmp_path / "figs" / "p.png"
    assert main([str(x) for x in (a, b, "--records", rec, "--baseline", base, "--json", out_json,
                                  "--png", out_png)]) == 0
    got = json.loads(out_json.read_text())
    pareto = {(p["scheme"], p["k"]): p for p in got["pareto"]}
    for k in (1, 2):
        vals = [e[k, d] for d in ("s0.nc", "s1.nc", "s2.nc")]
        assert pareto["forward", k]["n"] == 3
        assert pareto["forward", k]["mean"] == pytest.approx(np.mean(vals), rel=1e-12)
        assert pareto["forward", k]["std"] == pytest.approx(np.std(vals, ddof=1), rel=1e-12)
    assert pareto["forward", 3]["n"] == 0 and pareto["forward", 3]["todo"] == 1      # pending: a gap, not a value
    assert pareto["backward", 2]["n"] == 0                                             # diverged: not averaged
    assert got["baselines"][0]["n"] == 2 and got["baselines"][0]["mean"] == pytest.approx(0.015)
    assert {p["source"] for p in got["points"]} == {"sweep a", "sweep b", "an earlier sweep", str(rec)}
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_that_is_not_a_sweep_is_one_line(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main([str(tmp_path / "nothing"), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nothing" in err and "not a sweep folder" in err
    assert not out.exists()
