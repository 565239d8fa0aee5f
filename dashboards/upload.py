"""File upload with a size limit, in chunks, straight to disk.

Panel's ``FileInput`` sends a whole file as one websocket message: a file
larger than the server's message limit (20 MB by default) closes the
connection without a word, and the session is dead. :class:`ChunkedUpload`
checks the size in the browser first (a file over the limit is never sent;
the page says why), then sends the file in chunks of ``chunk_bytes`` that the
server appends to a hidden temporary file in the uploads folder, counting
bytes so that a client that ignores the limit is stopped too. When the last
chunk has arrived, ``on_file(name, path)`` decides what to do with the file.
"""
from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Callable

import panel as pn
import param

__all__ = ["ChunkedUpload", "format_mb"]


def format_mb(n_bytes: float) -> str:
    """``12.3 MB`` (decimal megabytes)."""
    return f"{n_bytes / 1e6:.3g} MB"


class ChunkedUpload(pn.custom.JSComponent):
    """A file chooser that uploads one file in chunks, refusing files over ``max_bytes``.

    Parameters
    ----------
    folder : path-like
        Where the temporary file is written (the uploads folder).
    max_bytes : int
        Largest file accepted.
    on_file : callable(name, path) -> None
        Called on the server with the browser's file name and the complete
        temporary file; it must move or delete the file.
    on_error : callable(message) -> None
        Called with a one-line message when a file is refused or the upload fails.
    """

    accept = param.String(default="", doc="file endings offered by the browser's chooser")
    max_bytes = param.Integer(default=100_000_000, bounds=(1, None))
    chunk_bytes = param.Integer(default=4_000_000, bounds=(1024, 16_000_000),
                                doc="bytes per websocket message (under the server's message limit)")
    progress = param.String(default="", doc="upload progress, for the page")

    _esm = """
function b64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
export function render({ model, el }) {
  const input = document.createElement("input");
  input.type = "file";
  input.accept = model.accept;
  input.style.width = "100%";
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    if (file.size > model.max_bytes) {
      model.send_msg({kind: "too_large", name: file.name, size: file.size});
      input.value = "";
      return;
    }
    const id = Math.random().toString(36).slice(2);
    const step = model.chunk_bytes;
    const n = Math.max(1, Math.ceil(file.size / step));
    model.send_msg({kind: "start", id: id, name: file.name, size: file.size, chunks: n});
    for (let i = 0; i < n; i++) {
      const part = new Uint8Array(await file.slice(i * step, Math.min(file.size, (i + 1) * step)).arrayBuffer());
      model.send_msg({kind: "chunk", id: id, index: i, data: b64(part)});
    }
    model.send_msg({kind: "end", id: id});
    input.value = "";
  });
  el.appendChild(input);
}
"""

    def __init__(self, folder, on_file: Callable[[str, Path], None], on_error: Callable[[str], None], **params):
        super().__init__(**params)
        self.folder = Path(folder)
        self.on_file, self.on_error = on_file, on_error
        self._job: dict | None = None

    def _fail(self, message: str) -> None:
        self._discard()
        self.progress = ""
        self.on_error(message)

    def _discard(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            try:
                job["fh"].close()
            finally:
                Path(job["path"]).unlink(missing_ok=True)

    def _too_large(self, name: str, size) -> str:
        return (f"{name}: {format_mb(float(size))} is over the upload limit of {format_mb(self.max_bytes)}; "
                "start the app with --args --max-upload-mb N (or COLLOP_MAX_UPLOAD_MB) to raise it")

    def _handle_msg(self, msg) -> None:
        kind = msg.get("kind") if isinstance(msg, dict) else None
        name = Path(str(msg.get("name", "upload"))).name if isinstance(msg, dict) else "upload"
        if kind == "too_large":
            return self._fail(self._too_large(name, msg.get("size", 0)))
        if kind == "start":
            self._discard()
            size = int(msg.get("size") or 0)
            if size > self.max_bytes:
                return self._fail(self._too_large(name, size))
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f".upload-{secrets.token_hex(6)}.part"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._job = {"id": msg.get("id"), "name": name, "size": size, "path": path, "done": 0,
                         "fh": os.fdopen(fd, "wb")}
            self.progress = f"uploading {name}: 0 of {format_mb(size)}"
            return
        job = self._job
        if job is None or msg.get("id") != job["id"]:
            return                                   # a chunk of an upload that was refused or replaced
        if kind == "chunk":
            try:
                data = base64.b64decode(msg.get("data") or "", validate=True)
            except (ValueError, TypeError):
                return self._fail(f"{job['name']}: the upload was corrupted; try again")
            job["done"] += len(data)
            if job["done"] > self.max_bytes or job["done"] > job["size"]:
                return self._fail(self._too_large(job["name"], job["done"]))
            job["fh"].write(data)
            self.progress = f"uploading {job['name']}: {format_mb(job['done'])} of {format_mb(job['size'])}"
        elif kind == "end":
            self._job = None
            job["fh"].close()
            self.progress = ""
            if job["done"] != job["size"]:
                Path(job["path"]).unlink(missing_ok=True)
                return self.on_error(f"{job['name']}: the upload was interrupted; try again")
            try:
                self.on_file(job["name"], Path(job["path"]))
            finally:
                Path(job["path"]).unlink(missing_ok=True)
