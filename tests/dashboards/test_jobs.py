"""Trainings in worker processes: events arrive, Stop stops cleanly, failures land in run.json."""
import json
import time
from pathlib import Path

import pytest

from dashboards.jobs import JobManager, new_run_id, run_label
from dashboards.runstore import list_all


@pytest.fixture
def manager(roots):
    m = JobManager(roots["runs"], warm=True)
    yield m
    m.close(stop_jobs=True)


def _wait(cond, timeout=60.0, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return False


def _events(path):
    try:
        return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return []


def test_jobs_send_job_specs_not_argv(roots):
    """The manager sends the worker a job spec (JSON), the same a sweep or ``collop run`` runs."""
    from collop.pipeline import spec_from_dict

    m = JobManager(roots["runs"], warm=False)
    sent = []
    m._launch = lambda job: sent.append(job) or Path(job["run_dir"]).name
    rid = m.start_fp("/d.nc", train=["a", "b"], test=["c"], model="nn", nt=3, reg=0.5, seed=2,
                     curriculum="1:0.01:5", reg_velocity=0.25)
    job = sent[-1]
    assert "argv" not in job and job["kind"] == "train" and Path(job["run_dir"]).name == rid
    spec = spec_from_dict(job["spec"])
    assert (spec.train, spec.test, spec.options["model"], spec.options["nt"], spec.penalties["reg"],
            spec.seed, spec.curriculum, spec.out) == (("a", "b"), ("c",), "nn", 3, 0.5, 2, "1:0.01:5",
                                                     str(Path(roots["runs"]).absolute() / rid))
    assert spec.penalties["reg_velocity"] == 0.25
    m.start_tracks("/p.nc", "/d.nc", test=["c"], ndump=2)
    assert spec_from_dict(sent[-1]["spec"]).ndump == 2 and sent[-1]["kind"] == "tracks"


def test_warm_worker_waits_for_prepare(roots, config):
    """The app's manager starts no worker with the server; the Fokker-Planck tab starts it."""
    from dashboards import App

    m = JobManager(roots["runs"], warm=True, eager=False)
    try:
        assert m._spare is None
        m.prepare()
        spare = m._spare
        assert spare is not None and spare.poll() is None
        m.prepare()
        assert m._spare is spare                     # one warm worker is enough
    finally:
        m.close()
    app = App(config=config, warm=True)
    try:
        assert app.state.manager._spare is None      # the first page starts no torch import
        app.tab(1)                                   # the Fokker-Planck tab
        assert app.state.manager._spare is not None
    finally:
        app.state.manager.close(stop_jobs=True)


def test_train_stop_finish_and_failures(manager, tiny_file, fp_data, roots):
    """Three jobs at once (one worker process each): stopped, failed before starting, finished."""
    train, test = fp_data.names[:2], fp_data.names[2:]
    rid = manager.start_fp(tiny_file, train=train, test=test, curriculum="1:1e-2:100000")
    bad = manager.start_fp(tiny_file, train=["no_such_population"], curriculum="1:1e-2:5")
    short = manager.start_fp(tiny_file, train=train, test=test, curriculum="1:1e-2:30", seed=1)
    runs = roots["runs"]
    events = runs / rid / "events.jsonl"

    # the long training: epochs arrive; Stop ends it as "stopped", with its operator and metrics
    assert _wait(lambda: sum(e["event"] == "epoch" for e in _events(events)) >= 5, 90), "no epochs arrived"
    info = json.loads((runs / rid / "run.json").read_text())
    assert info["status"] == "running" and info["method"] == "ps-tensor"
    assert rid in manager.running()
    assert "stopping" in manager.stop(rid)
    assert manager.wait(rid, 60) == 130
    info = json.loads((runs / rid / "run.json").read_text())
    assert info["status"] == "stopped" and "rollout_mae" in info["metrics"]
    assert (runs / rid / "operator.nc").exists()
    assert _events(events)[-1]["event"] == "done"
    assert "not running" in manager.stop(rid)

    # a bad argument fails before the command creates its run: the error is recorded in run.json
    assert manager.wait(bad, 60) == 2
    bad_info = json.loads((runs / bad / "run.json").read_text())
    assert bad_info["status"] == "failed" and "no_such_population" in bad_info["error"]
    assert "\n" not in bad_info["error"]

    # a short training leaves the same files as `collop train fp`
    assert manager.wait(short, 90) == 0
    d = runs / short
    assert {"run.json", "events.jsonl", "operator.nc", "metrics.json", "log.txt"} <= {p.name for p in d.iterdir()}
    assert [p.name for p in (d / "snapshots").iterdir()] == ["000025.nc"]
    info = json.loads((d / "run.json").read_text())
    assert info["status"] == "finished" and info["params"]["seed"] == 1
    assert info["params"]["curriculum"] == "1:1e-2:30"
    kinds = [e["event"] for e in _events(d / "events.jsonl")]
    assert kinds.count("epoch") == 30 and "snapshot" in kinds and kinds[-1] == "done"

    by_id = {r["id"]: r["status"] for r in list_all(runs)}
    assert by_id == {rid: "stopped", bad: "failed", short: "finished"}


@pytest.mark.slow
def test_tracks_job_records_a_finished_run(manager, roots):
    """The Tracks method through the job manager on the shipped particles (~10 s of work)."""
    from dashboards.config import SHIPPED_DATA

    rid = manager.start_tracks(SHIPPED_DATA / "langevin_particles.nc", SHIPPED_DATA / "langevin.nc",
                               test=["ring_1.0"], ndump=1)
    assert manager.wait(rid, 300) == 0
    info = json.loads((roots["runs"] / rid / "run.json").read_text())
    assert info["status"] == "finished" and info["method"] == "tracks" and info["kind"] == "tracks"
    assert info["metrics"]["rollout_mae"] > 0 and (roots["runs"] / rid / "operator.nc").exists()
    assert _events(roots["runs"] / rid / "events.jsonl")[-1]["event"] == "done"


def test_run_label_is_short_for_generated_ids_and_keeps_names():
    rid = new_run_id("ps-tensor")
    label = run_label(rid, "ps-tensor")
    assert label.startswith("ps-tensor ") and label.endswith(rid[-4:]) and len(label) == len("ps-tensor 07:48 cfd8")
    assert run_label("ps-nn-20261122-074801-cfd8", "ps-nn") == "ps-nn 07:48 cfd8"
    assert run_label("my run", "ps-nn") == "ps-nn · my run"
    assert run_label("tracks ndump 2", "tracks") == "tracks ndump 2"
