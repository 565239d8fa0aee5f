"""events.jsonl -> Buffer / Pipe, incrementally."""
import json

from holoviews.streams import Pipe

from collop.runs import RunFolder
from dashboards.streams import EventTail, RunFeed


def test_tail_reads_only_complete_new_lines(tmp_path):
    p = tmp_path / "events.jsonl"
    tail = EventTail(p)
    assert tail.read() == []                                   # no file yet
    p.write_text('{"event": "stage", "stage": 0}\n{"event": "epo')
    assert [e["event"] for e in tail.read()] == ["stage"]
    assert tail.read() == []                                   # the half line waits
    with open(p, "a") as fh:
        fh.write('ch", "stage": 0, "epoch": 0, "loss": 1.0}\nnot json\n')
    assert [e["event"] for e in tail.read()] == ["epoch"]     # bad line skipped
    p.unlink()
    p.write_text('{"event": "done"}\n')                        # replaced: read from the start
    assert [e["event"] for e in tail.read()] == ["done"]


def test_feed_pushes_epochs_and_snapshots(tmp_path, fp_data):
    run = RunFolder(tmp_path / "run")
    run.create("fp", {"curriculum": "1:0.1:2,2:0.1:3"}, "x.nc", method="ps-tensor")
    feed = RunFeed(RunFeed.loss_buffer(), Pipe(data=None))
    feed.follow(run.path)
    assert feed.drain() == 0 and len(feed.loss.data) == 0
    run.append_event({"event": "stage", "stage": 0, "n_stages": 2, "n_unroll": 1, "lr": 0.1, "epochs": 2})
    for e in range(2):
        run.append_event({"event": "epoch", "stage": 0, "epoch": e, "loss": 1.0 / (e + 1), "seconds": 0.1})
    assert feed.drain() == 2
    run.append_event({"event": "stage", "stage": 1, "n_stages": 2, "n_unroll": 2, "lr": 0.1, "epochs": 3})
    run.append_event({"event": "epoch", "stage": 1, "epoch": 0, "loss": None, "seconds": 0.1})
    run.save_snapshot(fp_data.truth_ds, 3)
    assert feed.drain() == 1
    data = feed.loss.data
    assert list(data["epoch"]) == [0, 1, 2] and list(data["stage"]) == [0, 0, 1]
    assert data["loss"].iloc[1] == 0.5 and data["loss"].isna().iloc[2]
    assert feed.operator.data is not None and "A_par" in feed.operator.data
    assert feed.progress["stage"] == 1 and feed.progress["epochs_done"] == 3 and feed.progress["n_stages"] == 2
    feed.follow(None)                                           # following nothing clears the streams
    assert len(feed.loss.data) == 0 and feed.operator.data is None
