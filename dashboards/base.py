"""The base class of the app's tabs."""
from __future__ import annotations

import panel as pn
import param

from .state import AppState

__all__ = ["Tab", "alert"]


def alert(text: str = "", kind: str = "danger", name: str = "message") -> pn.pane.Alert:
    """A one-line message box (hidden while empty) with CSS class ``collop-<name>``."""
    return pn.pane.Alert(text, alert_type=kind, visible=bool(text), css_classes=[f"collop-{name}"],
                         sizing_mode="stretch_width", margin=(5, 5))


def set_alert(box: pn.pane.Alert, text: str, kind: str | None = None) -> None:
    """Show ``text`` in ``box`` (hide it when empty)."""
    box.object = text
    if kind:
        box.alert_type = kind
    box.visible = bool(text)


class Tab(pn.viewable.Viewer):
    """A tab of the app: a :class:`~panel.viewable.Viewer` on the session's :class:`AppState`.

    Subclasses set :attr:`title`, build their layout in ``__init__`` and
    return it from ``__panel__``; :meth:`tick` is called every ~500 ms by the
    app (keep it cheap: read new data, push it into streams).
    """

    title = "Tab"
    state = param.ClassSelector(class_=AppState)

    def tick(self) -> None:
        """Periodic update (default: nothing)."""

    def show(self) -> None:
        """Called when the tab is brought forward (default: nothing)."""
