"""collop's app: ``panel serve app.py`` (options after ``--args``: ``--data-root DIR``, ``--runs DIR``).

Only assembles; everything lives in :mod:`dashboards`.
"""
import panel as pn

from dashboards import App

pn.extension("tabulator")

App().servable()
