"""Where the app finds data and runs, and the one safe way to turn a page's choice into a path.

The page never sends a path. It sends a *name*: a root key and a path
relative to that root (``"data:langevin.nc"``). :meth:`Config.resolve` turns a
name into a file and refuses anything that leaves its root (``..``, absolute
paths, symbolic links pointing outside, hidden files).

Sources, first wins for duplicate folders:

1. the shipped ``data/`` folder (key ``data``);
2. ``panel serve app.py --args --data-root DIR [--data-root DIR2]``;
3. the environment variable ``COLLOP_DATA_ROOTS`` (``os.pathsep``-separated);
4. the uploads folder (key ``uploads``; ``--uploads DIR`` / ``COLLOP_UPLOADS``,
   default ``<runs>/uploads``, inside the git-ignored runs folder; it holds no
   ``run.json`` so it is never listed as a run).

Runs live under ``--runs DIR`` / ``COLLOP_RUNS`` (default ``runs/``).

Two settings guard the server:

- ``--allow-remote`` / ``COLLOP_ALLOW_REMOTE=1``: accept sessions from other
  machines (default: only from this machine, see :mod:`dashboards.access`);
- ``--max-upload-mb N`` / ``COLLOP_MAX_UPLOAD_MB`` (default 100): the largest
  file the page accepts as an upload.

Sweeps started from the page run on a new dask ``LocalCluster`` unless the
server names running schedulers: ``--scheduler ADDRESS`` (repeatable) /
``COLLOP_SCHEDULERS`` (comma-separated), each a scheduler address
(``tcp://host:8786``) or a scheduler file (``.json``, as dask-jobqueue
writes). The page offers only these: like paths, addresses are never sent
by the page, since a dask client runs what the scheduler sends back.
"""
from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = ["Config", "PathError", "scheduler_address", "REPO_ROOT", "SHIPPED_DATA", "DATA_SUFFIXES", "MAX_UPLOAD_MB", "truthy"]

#: The repository (the folder holding ``app.py``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The shipped default datasets.
SHIPPED_DATA = REPO_ROOT / "data"
#: File endings offered as datasets.
DATA_SUFFIXES = (".nc", ".h5", ".hdf5", ".nc4")

#: Default upload limit in MB (decimal megabytes, 10**6 bytes).
MAX_UPLOAD_MB = 100.0

_KEY_OK = re.compile(r"[^A-Za-z0-9_.-]+")


def truthy(value) -> bool:
    """Whether an environment variable's value means yes (``1``, ``true``, ``yes``, ``on``)."""
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def scheduler_address(address: str) -> str:
    """A scheduler the server may offer: ``scheme://host:port`` or a scheduler file (``.json``, made absolute).

    Raises
    ------
    ValueError
        One line naming the address, for anything else. Whether a scheduler
        answers there is checked when a sweep starts (``collop sweep run``).
    """
    a = str(address).strip()
    if a.lower().endswith(".json") and "://" not in a:
        return str(Path(a).expanduser().absolute())
    if re.fullmatch(r"(tcp|tls|ucx|ws|wss)://[^\s/]+:\d{1,5}", a):
        return a
    raise ValueError(f"--scheduler / COLLOP_SCHEDULERS: {a!r} is neither a scheduler address "
                     "(e.g. tcp://host:8786) nor a scheduler file (.json)")


class PathError(ValueError):
    """A name from the page that does not denote a file under a configured root."""


def _key_for(path: Path, taken: set[str]) -> str:
    base = _KEY_OK.sub("_", path.name) or "root"
    key, i = base, 2
    while key in taken:
        key, i = f"{base}{i}", i + 1
    return key


@dataclass
class Config:
    """Data roots, uploads folder and runs folder of one app.

    Parameters
    ----------
    data_roots : dict of str to Path
        Root key -> folder. Keys are what the page sees.
    uploads : Path
        Folder where uploaded files are saved (also a data root, key ``uploads``).
    runs : Path
        Folder of run folders.
    allow_remote : bool
        Accept sessions from clients on other machines.
    max_upload_mb : float
        Largest upload accepted, in MB (10**6 bytes).
    schedulers : list of str
        Running dask schedulers (addresses or scheduler files) the page may
        send sweeps to, besides a new local cluster.
    """

    data_roots: dict[str, Path] = field(default_factory=dict)
    uploads: Path = Path("uploads")
    runs: Path = Path("runs")
    allow_remote: bool = False
    max_upload_mb: float = MAX_UPLOAD_MB
    schedulers: list[str] = field(default_factory=list)

    # -- construction -------------------------------------------------------
    @classmethod
    def from_args(cls, argv=None, environ=None) -> "Config":
        """Build from command-line arguments and the environment.

        Parameters
        ----------
        argv : list of str, optional
            Arguments after ``--args`` of ``panel serve`` (unknown ones are
            ignored): ``--data-root DIR`` (repeatable), ``--runs DIR``,
            ``--uploads DIR``, ``--allow-remote``, ``--max-upload-mb N``,
            ``--scheduler ADDRESS`` (repeatable).
        environ : mapping, optional
            Environment (default ``os.environ``): ``COLLOP_DATA_ROOTS``,
            ``COLLOP_RUNS``, ``COLLOP_UPLOADS``, ``COLLOP_ALLOW_REMOTE``,
            ``COLLOP_MAX_UPLOAD_MB``, ``COLLOP_SCHEDULERS``.
        """
        env = os.environ if environ is None else environ
        p = argparse.ArgumentParser(add_help=False)
        p.add_argument("--data-root", action="append", default=[])
        p.add_argument("--runs", default=None)
        p.add_argument("--uploads", default=None)
        p.add_argument("--allow-remote", action="store_true")
        p.add_argument("--max-upload-mb", default=None)
        p.add_argument("--scheduler", action="append", default=[])
        args, _ = p.parse_known_args(list(argv or []))
        roots = [SHIPPED_DATA] + [Path(r) for r in args.data_root]
        roots += [Path(r) for r in env.get("COLLOP_DATA_ROOTS", "").split(os.pathsep) if r.strip()]
        runs = Path(args.runs or env.get("COLLOP_RUNS") or "runs").absolute()
        uploads = Path(args.uploads or env.get("COLLOP_UPLOADS") or runs / "uploads").absolute()
        raw = args.max_upload_mb if args.max_upload_mb is not None else env.get("COLLOP_MAX_UPLOAD_MB")
        try:
            limit = float(raw) if raw not in (None, "") else MAX_UPLOAD_MB
        except ValueError:
            raise ValueError(f"--max-upload-mb / COLLOP_MAX_UPLOAD_MB: {raw!r} is not a number") from None
        if not limit > 0:
            raise ValueError(f"--max-upload-mb / COLLOP_MAX_UPLOAD_MB: must be positive, got {raw!r}")
        schedulers = list(args.scheduler) + env.get("COLLOP_SCHEDULERS", "").split(",")
        return cls.build(roots, runs=runs, uploads=uploads,
                         allow_remote=args.allow_remote or truthy(env.get("COLLOP_ALLOW_REMOTE")),
                         max_upload_mb=limit, schedulers=schedulers)

    @classmethod
    def build(cls, roots, *, runs, uploads, allow_remote: bool = False,
              max_upload_mb: float = MAX_UPLOAD_MB, schedulers=()) -> "Config":
        """A config from a list of data folders (keys: ``data`` for the first, else folder names)."""
        data_roots: dict[str, Path] = {}
        seen: set[Path] = set()
        uploads = Path(uploads).absolute()
        for i, r in enumerate(roots):
            r = Path(r).absolute()
            real = Path(os.path.realpath(r))
            if real in seen or real == Path(os.path.realpath(uploads)):
                continue
            seen.add(real)
            key = "data" if i == 0 and "data" not in data_roots else _key_for(r, set(data_roots) | {"uploads"})
            data_roots[key] = r
        data_roots["uploads"] = uploads
        named = []
        for a in (scheduler_address(a) for a in schedulers if str(a).strip()):
            if a not in named:
                named.append(a)
        return cls(data_roots=data_roots, uploads=uploads, runs=Path(runs).absolute(), allow_remote=allow_remote,
                   max_upload_mb=float(max_upload_mb), schedulers=named)

    def public_roots(self) -> dict[str, Path]:
        """Folders whose paths the page may name (as ``key:relative``): the data roots and the runs folder."""
        return {**self.data_roots, "runs": self.runs}

    # -- names <-> paths ----------------------------------------------------
    def resolve(self, name: str) -> Path:
        """The file denoted by ``"root:relative/path"``, refusing anything outside the root.

        Raises
        ------
        PathError
            Unknown root, absolute path, ``..``, hidden component, backslash,
            NUL, or a symbolic link that leads out of the root.
        """
        if not isinstance(name, str) or ":" not in name:
            raise PathError(f"{name!r}: expected root:path")
        key, rel = name.split(":", 1)
        if key not in self.data_roots:
            raise PathError(f"{name!r}: unknown data root {key!r}")
        root = self.data_roots[key]
        return self.resolve_in(root, rel)

    @staticmethod
    def resolve_in(root, rel: str) -> Path:
        """``root / rel`` if ``rel`` is a plain relative path that stays inside ``root``."""
        if not rel or "\x00" in rel or "\\" in rel:
            raise PathError(f"{rel!r}: not a file name")
        pure = PurePosixPath(rel)
        if pure.is_absolute() or rel.startswith("~"):
            raise PathError(f"{rel!r}: absolute paths are not accepted")
        if any(part in ("", "..", ".") or part.startswith(".") for part in rel.split("/")):
            raise PathError(f"{rel!r}: '..', '.' and hidden names are not accepted")
        root_real = Path(os.path.realpath(root))
        target = Path(os.path.realpath(Path(root) / pure))
        if target != root_real and root_real not in target.parents:
            raise PathError(f"{rel!r}: leads outside its data folder")
        return target

    def name_of(self, path) -> str | None:
        """The ``root:relative`` name of a file under a root (None if it is under none)."""
        real = Path(os.path.realpath(path))
        for key, root in self.data_roots.items():
            rr = Path(os.path.realpath(root))
            if rr in real.parents:
                return f"{key}:{real.relative_to(rr).as_posix()}"
        return None

    def label(self, name: str) -> str:
        """Human label of a name: ``data/langevin.nc``."""
        key, rel = name.split(":", 1)
        return f"{key}/{rel}"

    def list_files(self, max_depth: int = 3) -> list[str]:
        """Names of the data files (by :data:`DATA_SUFFIXES`) under every root, sorted per root.

        Hidden files and folders are skipped, and so are links leading out of the root.
        """
        out = []
        for key, root in self.data_roots.items():
            if not Path(root).is_dir():
                continue
            found = []
            base_depth = len(Path(root).parts)
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                if len(Path(dirpath).parts) - base_depth >= max_depth:
                    dirnames[:] = []
                for fn in filenames:
                    if fn.startswith(".") or not fn.lower().endswith(DATA_SUFFIXES):
                        continue
                    rel = (Path(dirpath) / fn).relative_to(root).as_posix()
                    try:
                        self.resolve_in(root, rel)
                    except PathError:
                        continue
                    found.append(f"{key}:{rel}")
            out.extend(sorted(found))
        return out
