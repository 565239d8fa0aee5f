"""collop's app: ``panel serve app.py``.

Options after ``--args``: ``--data-root DIR`` (repeatable), ``--runs DIR``,
``--uploads DIR``, ``--max-upload-mb N``, ``--allow-remote`` (accept sessions
from other machines; by default only this machine's are), ``--scheduler
ADDRESS`` (repeatable: a running dask scheduler the Kernel tab may send
sweeps to, besides a new local cluster). Only assembles;
everything lives in :mod:`dashboards`.
"""
import panel as pn

from dashboards import App

pn.extension("tabulator")

App().servable()
