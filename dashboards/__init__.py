"""collop's Panel app: one module per dashboard, plots as pure functions, state in param classes.

Modules
-------
config      data roots, runs folder, the safe name -> path resolver
datasets    listing and opening datasets with one-line errors
plots       pure functions xarray -> HoloViews elements
export      PNG / SVG (matplotlib) and standalone HTML export of any figure
jobs        background trainings in worker processes (:mod:`dashboards.worker`)
runstore    the runs folder: list, rename, delete, operators
streams     events.jsonl -> HoloViews Buffer / Pipe streams
state       AppState, the session's shared state
tabs        the registered tabs (data_tab, fp_tab, rollout_tab, runs_tab)
app         App, the frame (sidebar + tabs)
"""
from .app import App
from .config import Config
from .tabs import TABS

__all__ = ["App", "Config", "TABS"]
