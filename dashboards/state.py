"""The state of one app session, shared by its tabs (a :class:`param.Parameterized`)."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import param

from collop.io import open_dataset

from .config import DATA_SUFFIXES, Config, PathError
from .datasets import DatasetError, dataset_options, load, partner_file
from .jobs import JobManager
from .runstore import list_all, same_file
from .text import public_message, shorten

__all__ = ["AppState"]

_UPLOAD_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
#: Longest dataset name (``root:relative/path``) accepted from the page.
MAX_NAME = 1024


class AppState(param.Parameterized):
    """Dataset choice, the runs on disk and the run being followed.

    Parameters
    ----------
    config : Config
        Data roots and runs folder.
    manager : JobManager
        Starts and stops trainings.
    """

    config = param.ClassSelector(class_=Config, doc="data roots and runs folder")
    manager = param.ClassSelector(class_=JobManager, allow_None=True, doc="background trainings")

    dataset_options = param.Dict(default={}, doc="label -> name of the files one can choose")
    dataset_name = param.String(default="", doc="chosen file as root:relative/path")
    dataset = param.Parameter(default=None, doc="the chosen phase-space xarray.Dataset (None if unusable)")
    dataset_path = param.Parameter(default=None, doc="its file")
    particles_path = param.Parameter(default=None, doc="its particles partner file, if any")
    truth_path = param.Parameter(default=None, doc="its true-operator partner file, if any")
    error = param.String(default="", doc="one-line reason the chosen dataset cannot be used")
    notice = param.String(default="", doc="one-line note about the last upload (e.g. a name that was taken)")

    runs = param.List(default=[], doc="every run on disk (list_all)")
    current_run = param.String(default="", doc="id of the run the Fokker-Planck tab follows")
    show_tab = param.String(default="", doc="title of the tab the app should bring forward")

    def __init__(self, **params):
        super().__init__(**params)
        self._runs_sig = None
        self.refresh_datasets()
        self.refresh_runs(force=True)

    # -- datasets -----------------------------------------------------------------
    def refresh_datasets(self) -> None:
        """Re-list the files under the data roots."""
        self.dataset_options = dataset_options(self.config)

    def default_name(self) -> str:
        """The name chosen at start: the shipped Langevin set if present, else the first file."""
        names = list(self.dataset_options.values())
        return "data:langevin.nc" if "data:langevin.nc" in names else (names[0] if names else "")

    def public(self, exc) -> str:
        """An error message for the page: one line, no server paths outside the data roots."""
        return public_message(exc, self.config.public_roots())

    def select(self, name: str) -> bool:
        """Choose a dataset by name; on failure ``error`` holds a one-line message (no server paths)."""
        try:
            if not isinstance(name, str) or len(name) > MAX_NAME:
                raise PathError(f"{shorten(str(name), 60)!r}: a dataset name of {len(str(name))} characters is "
                                f"too long (at most {MAX_NAME})")
            path = self.config.resolve(name)
            ds = load(path, "phasespace")
        except (PathError, DatasetError, OSError) as exc:
            msg = self.public(exc)
            with param.parameterized.batch_call_watchers(self):
                self.error = msg
                self.dataset = None
                self.dataset_path = None
                self.particles_path = self.truth_path = None
                self.dataset_name = name if isinstance(name, str) else ""
            return False
        with param.parameterized.batch_call_watchers(self):
            self.error = ""
            self.dataset_path = path
            self.particles_path = partner_file(self.config, path, ds, "particles")
            self.truth_path = partner_file(self.config, path, ds, "operator")
            self.dataset = ds
            self.dataset_name = name
        return True

    @staticmethod
    def upload_name(filename: str) -> str:
        """The name an uploaded file is saved under: letters, digits, ``_.-`` and a data file ending."""
        stem = _UPLOAD_NAME.sub("_", Path(str(filename)).name).lstrip("._") or "upload.nc"
        if not stem.lower().endswith(DATA_SUFFIXES):
            stem += ".nc"
        return stem

    def upload_file(self, filename: str, tmp) -> bool:
        """Keep an uploaded file (already on disk at ``tmp``) if it is a valid phase-space file, and choose it.

        The file is checked before it gets its name. An existing upload is
        never replaced: a second file with the same name is kept as
        ``<stem>-2.nc`` (``-3``, ...) and :attr:`notice` says so. ``tmp`` is
        left for the caller to remove.

        Returns
        -------
        bool
            Whether the file was accepted; otherwise ``error`` says why.
        """
        name = self.upload_name(filename)
        up = Path(self.config.uploads)
        up.mkdir(parents=True, exist_ok=True)
        try:
            open_dataset(tmp, "phasespace").close()
        except Exception as exc:  # any reader error: one line naming the upload, never the temporary file
            text = str(exc).replace(str(tmp), name).replace(Path(tmp).name, name)
            msg = self.public(text)
            self.error = msg if msg.startswith(name) else f"upload {name}: {msg}"
            return False
        stem, suffix = Path(name).stem, Path(name).suffix
        target, k = up / name, 1
        while True:
            try:
                os.link(tmp, target)          # fails if the name is taken: never overwrites
                break
            except FileExistsError:
                k += 1
                target = up / f"{stem}-{k}{suffix}"
            except OSError as exc:
                self.error = f"upload {name}: {self.public(exc)}"
                return False
        self.notice = "" if k == 1 else f"An upload named {name} exists already: this file was saved as {target.name}."
        self.refresh_datasets()
        return self.select(f"uploads:{target.name}")

    def upload(self, filename: str, data: bytes) -> bool:
        """:meth:`upload_file` of bytes in memory (written to a temporary file in the uploads folder first)."""
        up = Path(self.config.uploads)
        tmp = None
        try:
            up.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=up)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return self.upload_file(filename, tmp)
        except OSError as exc:
            self.error = f"upload {self.upload_name(filename)}: {self.public(exc)}"
            return False
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    # -- runs ---------------------------------------------------------------------
    def _signature(self):
        root = Path(self.config.runs)
        if not root.is_dir():
            return ()
        sig = []
        with os.scandir(root) as it:
            for e in it:
                if not e.is_dir():
                    continue
                st = []
                for f in ("run.json", "job.json"):
                    try:
                        st.append(os.stat(os.path.join(e.path, f)).st_mtime_ns)
                    except OSError:
                        st.append(None)
                sig.append((e.name, *st))
        return tuple(sorted(sig, key=lambda x: x[0]))

    def refresh_runs(self, force: bool = False) -> bool:
        """Re-read the runs folder if anything in it changed; returns whether it did."""
        sig = self._signature()
        if not force and sig == self._runs_sig:
            return False
        self._runs_sig = sig
        self.runs = list_all(self.config.runs)
        return True

    def runs_on_dataset(self, finished_only: bool = False) -> list[dict]:
        """Runs whose training data is the chosen dataset."""
        if self.dataset_path is None:
            return []
        out = []
        for r in self.runs:
            data = (r.get("params") or {}).get("data") or r.get("dataset")
            if data and same_file(data, self.dataset_path):
                if not finished_only or r.get("status") in ("finished", "stopped"):
                    out.append(r)
        return out

    def run_info(self, run_id: str) -> dict | None:
        """The entry of a run in :attr:`runs` (None if unknown)."""
        for r in self.runs:
            if r.get("id") == run_id:
                return r
        return None
