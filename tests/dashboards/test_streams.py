"""events.jsonl -> loss, newest operator, progress with elapsed time and ETA, incrementally."""
from collop.runs import RunFolder
from dashboards.streams import EventTail, Progress, RunFeed, format_duration


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


def test_feed_reads_epochs_snapshots_and_times(tmp_path, fp_data):
    run = RunFolder(tmp_path / "run")
    run.create("train", {"curriculum": "1:0.1:2,2:0.1:3"}, "x.nc", method="ps-tensor")
    feed = RunFeed()
    feed.follow(run.path)
    v0 = feed.version
    assert not feed.drain() and len(feed.loss) == 0 and feed.version == v0
    t = "2026-01-01T00:00:{:02d}+00:00"
    run.append_event({"event": "stage", "stage": 0, "n_stages": 2, "n_unroll": 1, "lr": 0.1, "epochs": 2,
                      "time": t.format(0)})
    for e in range(2):
        run.append_event({"event": "epoch", "stage": 0, "epoch": e, "loss": 1.0 / (e + 1), "seconds": 2.0 * (e + 1),
                          "time": t.format(2 * (e + 1))})
    assert feed.drain() and feed.version > v0
    run.append_event({"event": "stage", "stage": 1, "n_stages": 2, "n_unroll": 2, "lr": 0.1, "epochs": 3})
    run.append_event({"event": "epoch", "stage": 1, "epoch": 0, "loss": None, "seconds": 8.0})
    run.save_snapshot(fp_data.truth_ds, 3)
    assert feed.drain()
    assert list(feed.loss["epoch"]) == [0, 1, 2] and list(feed.loss["stage"]) == [0, 0, 1]
    assert feed.loss["loss"].iloc[1] == 0.5 and feed.loss["loss"].isna().iloc[2]
    assert feed.operator is not None and "A_par" in feed.operator
    p = feed.progress
    assert (p.stage, p.epoch, p.epochs_done, p.n_stages, p.status) == (1, 1, 3, 2, "running")
    # epoch durations are differences of the cumulative seconds: stage 0 took 2 s per epoch, stage 1 4 s
    assert p.seconds == {0: (2.0, 1), 1: (4.0, 1)}
    assert p.eta() == 2 * 4.0                                  # two epochs of stage 1 left
    assert p.elapsed(now=p.started + 10) == 10.0
    run.append_event({"event": "done", "status": "finished", "message": "", "time": t.format(30)})
    feed.drain()
    assert feed.progress.status == "finished" and feed.progress.eta() is None
    assert feed.progress.elapsed() == 30.0                     # first event to done
    feed.follow(None)                                          # following nothing clears everything
    assert len(feed.loss) == 0 and feed.operator is None and feed.progress.started is None


def test_eta_scales_later_stages_by_their_unroll():
    p = Progress(stage=0, epoch=10, status="running", stages={0: (20, 1), 1: (10, 5)}, seconds={0: (10.0, 10)})
    # 10 epochs left at 1 s, then 10 epochs unrolling 5 frames: about 5 s each
    assert p.eta() == 10 * 1.0 + 10 * 5.0


def test_format_duration():
    assert format_duration(None) == "–" and format_duration(65) == "1:05" and format_duration(3725) == "1:02:05"
