"""``benchmarks/scan_figures.py``: a scan sweep's error table over seeds, and the error on the common held-out set."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from scan_figures import main  # noqa: E402

POPS = ["a", "b", "c", "h1", "h2"]


def _point(pid, n, seed, per, *, status="finished"):
    spec = {"data": "d.nc", "train": POPS[:n], "family": "fokker_planck",
            "options": {"model": "nn", "symmetry": "isotropic"}, "seed": seed}
    metrics = {"rollout_mae": float(np.mean(list(per.values()))), "per_population": per} if per else {}
    return {"id": pid, "values": {"n_train": n, "seed": seed}, "status": status, "error": None, "attempts": 1,
            "metrics": metrics, "spec": spec}


def _sweep(folder: Path, points, axes) -> Path:
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"collop_sweep": 1, "name": folder.name, "status": "finished",
                                                   "spec": {"axes": axes}, "points": points}))
    return folder


def test_scan_table_and_common_held_out(tmp_path, capsys):
    rng = np.random.default_rng(5)
    per = {(n, s): {p: float(rng.uniform(1e-3, 1e-2)) for p in POPS} for n in (1, 3) for s in (0, 1)}
    pts = [_point(f"n{n}_s{s}", n, s, per[n, s]) for n in (1, 3) for s in (0, 1)]
    pts.append(_point("n2_s0", 2, 0, None, status="pending"))
    sw = _sweep(tmp_path / "scan", pts, {"n_train": [1, 2, 3], "seed": [0, 1]})
    out = tmp_path / "out" / "scan.json"
    png = tmp_path / "out" / "scan.png"
    assert main([str(sw), "--json", str(out), "--png", str(png)]) == 0
    got = json.loads(out.read_text())
    assert got["axis"] == "n_train"
    assert got["held_out_populations"] == ["h1", "h2"]          # trained on by no point: c is in N = 3's set
    scan = {r["x"]: r for r in got["scan"]}
    held = {r["x"]: r for r in got["held_out"]}
    for n in (1, 3):
        alls = [np.mean(list(per[n, s].values())) for s in (0, 1)]
        assert scan[n]["n"] == 2 and scan[n]["mean"] == pytest.approx(np.mean(alls), rel=1e-12)
        assert scan[n]["std"] == pytest.approx(np.std(alls, ddof=1), rel=1e-12)
        ho = [np.mean([per[n, s]["h1"], per[n, s]["h2"]]) for s in (0, 1)]
        assert held[n]["mean"] == pytest.approx(np.mean(ho), rel=1e-12)
        assert held[n]["std"] == pytest.approx(np.std(ho, ddof=1), rel=1e-12)
    assert scan[2]["n"] == 0 and scan[2]["todo"] == 1 and 2.0 not in held
    assert got["bands"] == {}                                   # no operator files: no band, no crash
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweeps_without_one_common_scan_axis_are_one_line(tmp_path, capsys):
    a = _sweep(tmp_path / "a", [_point("p", 1, 0, {"a": 1e-3})], {"n_train": [1]})
    b = _sweep(tmp_path / "b", [], {"seed": [0, 1]})
    out = tmp_path / "scan.json"
    assert main([str(a), str(b), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "one common scan axis" in err
    assert not out.exists()
