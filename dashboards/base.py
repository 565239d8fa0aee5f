"""What every tab shares: the Tab base class, message boxes, deferred and background work."""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Callable

import panel as pn
import param

from .state import AppState
from .text import md

__all__ = ["Tab", "alert", "set_alert", "defer", "in_server", "Background", "spinner"]

_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def alert(text: str = "", kind: str = "danger", name: str = "message") -> pn.pane.Alert:
    """A one-line message box (hidden while empty) with CSS class ``collop-<name>``."""
    return pn.pane.Alert(md(text) if text else "", alert_type=kind, visible=bool(text),
                         css_classes=[f"collop-{name}"], sizing_mode="stretch_width", margin=(5, 5))


def set_alert(box: pn.pane.Alert, text: str, kind: str | None = None) -> None:
    """Show ``text`` (plain text: escaped, never rendered as HTML or Markdown) in ``box``; hide it when empty."""
    box.object = md(text) if text else ""
    if kind:
        box.alert_type = kind
    box.visible = bool(text)


def spinner(name: str = "loading", size: int = 24) -> pn.indicators.LoadingSpinner:
    """A loading spinner (hidden until shown) with CSS class ``collop-<name>``."""
    return pn.indicators.LoadingSpinner(value=True, visible=False, width=size, height=size, margin=(5, 8),
                                        css_classes=[f"collop-{name}"])


def in_server() -> bool:
    """Whether the current document belongs to a ``panel serve`` session."""
    doc = pn.state.curdoc
    return doc is not None and getattr(doc, "session_context", None) is not None


def defer(fn: Callable, *args) -> None:
    """Run ``fn(*args)`` on the session's next event-loop tick (at once outside a server).

    Changes made before the call (a loading indicator) reach the browser
    before ``fn`` starts.
    """
    if in_server():
        pn.state.execute(partial(fn, *args), schedule=True)
    else:
        fn(*args)


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="collop-background")
        return _EXECUTOR


class Background:
    """Computations off the Bokeh event loop, their results delivered back to the session.

    Under a server, :meth:`submit` runs ``fn`` in a small thread pool shared by
    all sessions and calls ``on_done(future)`` on the submitting session's
    event loop (``Document.add_next_tick_callback``, with that session's
    document current), so a long computation never holds up any page.
    Outside a server (a notebook, a test) it runs ``fn`` at once and calls
    ``on_done`` directly. A newer submission of the same object supersedes an
    older one: the older result is dropped.
    """

    def __init__(self):
        self._token = 0
        self.pending: Future | None = None

    @property
    def busy(self) -> bool:
        return self.pending is not None and not self.pending.done()

    def submit(self, fn: Callable, on_done: Callable[[Future], None], *args) -> Future:
        self._token += 1
        token = self._token
        doc = pn.state.curdoc if in_server() else None
        if doc is None:
            fut: Future = Future()
            try:
                fut.set_result(fn(*args))
            except Exception as exc:  # delivered to on_done, which reports it
                fut.set_exception(exc)
            self.pending = fut
            on_done(fut)
            return fut

        def deliver(f: Future) -> None:
            def apply():
                if token != self._token:          # superseded by a newer submission
                    return
                from panel.io.state import set_curdoc

                with set_curdoc(doc):
                    on_done(f)
            try:
                doc.add_next_tick_callback(apply)
            except Exception:                     # the session has ended meanwhile
                pass

        fut = _executor().submit(fn, *args)
        self.pending = fut
        fut.add_done_callback(deliver)
        return fut


class Tab(pn.viewable.Viewer):
    """A tab of the app: a :class:`~panel.viewable.Viewer` on the session's :class:`AppState`.

    Subclasses set :attr:`title`, build their layout in ``__init__`` and
    return it from ``__panel__``; :meth:`tick` is called every ~500 ms by the
    app (keep it cheap: read new data, push it into figures).
    """

    title = "Tab"
    state = param.ClassSelector(class_=AppState)

    @classmethod
    def opens(cls, info: dict) -> bool:
        """Whether this tab follows the run whose entry (:meth:`AppState.run_info`) is ``info``.

        The Runs tab's Open shows a run in the first registered tab that
        answers True (default: none).
        """
        return False

    def tick(self) -> None:
        """Periodic update (default: nothing)."""

    def show(self) -> None:
        """Called when the tab is brought forward (default: nothing)."""
