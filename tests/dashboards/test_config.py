"""Data roots, runs folder and the safe resolver."""
import os
from pathlib import Path

import pytest

from dashboards.config import SHIPPED_DATA, Config, PathError


def test_from_args_and_env(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    for p in (a, b, c):
        p.mkdir()
    cfg = Config.from_args(["--data-root", str(a), "--runs", str(tmp_path / "r"), "--unknown", "x"],
                           environ={"COLLOP_DATA_ROOTS": os.pathsep.join([str(b), str(c), str(a)])})
    assert cfg.data_roots["data"] == SHIPPED_DATA
    assert [cfg.data_roots[k] for k in ("a", "b", "c")] == [a, b, c]      # a given twice: listed once
    assert cfg.runs == tmp_path / "r" and cfg.uploads == tmp_path / "r" / "uploads"
    assert cfg.data_roots["uploads"] == cfg.uploads


def test_defaults_from_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.from_args([], environ={"COLLOP_RUNS": "myruns", "COLLOP_UPLOADS": str(tmp_path / "up")})
    assert cfg.runs == tmp_path / "myruns" and cfg.uploads == tmp_path / "up"
    assert list(cfg.data_roots) == ["data", "uploads"]
    assert Config.from_args([], environ={}).runs == tmp_path / "runs"


def test_resolve_accepts_files_under_roots(config, tiny_file, roots):
    assert config.resolve("data:langevin.nc") == SHIPPED_DATA / "langevin.nc"
    (roots["data"] / "sub").mkdir()
    (roots["data"] / "sub" / "x.nc").write_bytes(b"")
    assert config.resolve("data2:sub/x.nc") == (roots["data"] / "sub" / "x.nc").resolve()
    assert config.resolve("data2:tiny.nc") == tiny_file.resolve()
    assert config.name_of(tiny_file) == "data2:tiny.nc"
    assert config.name_of(roots["outside"] / "y.nc") is None


@pytest.mark.parametrize("name", [
    "data:../README.md", "data:sub/../../x.nc", "data:/etc/passwd", "data:~/x.nc", "data:.hidden.nc",
    "data:a\\..\\b.nc", "data:", "nope:langevin.nc", "langevin.nc", "data:x\x00.nc", "data:./langevin.nc",
])
def test_resolve_refuses(config, name):
    with pytest.raises(PathError):
        config.resolve(name)


def test_symlinks_escaping_a_root_are_refused_and_not_listed(config, roots, tiny_file):
    secret = roots["outside"] / "secret.nc"
    secret.write_bytes(b"x")
    (roots["data"] / "link.nc").symlink_to(secret)
    (roots["data"] / "linkdir").symlink_to(roots["outside"], target_is_directory=True)
    (roots["data"] / "inner.nc").symlink_to(tiny_file)               # a link inside the root is fine
    with pytest.raises(PathError, match="outside"):
        config.resolve("data2:link.nc")
    with pytest.raises(PathError, match="outside"):
        config.resolve("data2:linkdir/secret.nc")
    assert config.resolve("data2:inner.nc") == tiny_file.resolve()
    names = config.list_files()
    assert "data2:inner.nc" in names and "data2:tiny.nc" in names
    assert not any("secret" in n or "link.nc" in n for n in names)
    assert {"data:langevin.nc", "data:langevin_truth.nc"} <= set(names)


def test_server_settings(tmp_path):
    cfg = Config.from_args(["--runs", str(tmp_path)], environ={})
    assert cfg.allow_remote is False and cfg.max_upload_mb == 100.0
    cfg = Config.from_args(["--allow-remote", "--max-upload-mb", "250"], environ={})
    assert cfg.allow_remote and cfg.max_upload_mb == 250.0
    cfg = Config.from_args([], environ={"COLLOP_ALLOW_REMOTE": "yes", "COLLOP_MAX_UPLOAD_MB": "0.5"})
    assert cfg.allow_remote and cfg.max_upload_mb == 0.5
    assert not Config.from_args([], environ={"COLLOP_ALLOW_REMOTE": "0"}).allow_remote
    for bad in ("lots", "-1", "0"):
        with pytest.raises(ValueError, match="max-upload-mb"):
            Config.from_args(["--max-upload-mb", bad], environ={})
    assert set(cfg.public_roots()) == {"data", "uploads", "runs"}


def test_schedulers_come_from_the_server_not_the_page(tmp_path):
    """Addresses and scheduler files from --scheduler and COLLOP_SCHEDULERS; anything else is one line."""
    cfg = Config.from_args(["--scheduler", "tcp://10.0.0.5:8786", "--scheduler", "sched.json"],
                           environ={"COLLOP_SCHEDULERS": " tls://head:8786 , tcp://10.0.0.5:8786,sched.json,"})
    assert cfg.schedulers == ["tcp://10.0.0.5:8786", str(Path("sched.json").absolute()), "tls://head:8786"]
    assert Config.from_args([], environ={}).schedulers == []
    for bad in ("head:8786", "http://head:8786", "tcp://head", "tcp://a b:1", "sched.yaml"):
        with pytest.raises(ValueError, match="neither a scheduler address") as exc:
            Config.from_args(["--scheduler", bad], environ={})
        assert "\n" not in str(exc.value) and repr(bad) in str(exc.value)
