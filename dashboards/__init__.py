"""collop's Panel app: one module per dashboard, figures as descriptions, state in param classes.

Modules
-------
config        data roots, runs folder, server settings; the safe name -> path resolver
access        who may open a session (this machine only, unless --allow-remote)
text          escaping of every string from data, error text without server paths
datasets      listing and opening datasets with one-line errors
upload        chunked uploads with a size limit
figures       the figure description (plots, axes with units, colour scales, layers)
render_bokeh  a description drawn with Bokeh (the page; standalone HTML)
render_mpl    a description drawn with matplotlib (PNG, SVG, PDF)
plots         the app's figures: pure functions xarray -> description
export        FigureView (a description on the page) and the export buttons
summary       Table 1 per run and per method
jobs, worker  background trainings in worker processes
runstore      the runs folder: list, rename, delete to a trash, operators
streams       events.jsonl -> loss, operator, progress (elapsed, ETA)
state         AppState, the session's shared state
base          Tab, messages, deferred and background work
fp_form       the Fokker-Planck training form (a param.Parameterized)
sweep_jobs    sweeps started from the page (collop sweep run in its own process), stop and resume
kernel_*      the Kernel tab: form, sweep tables (data), figures (plots), scans view, the tab
metriplectic_*  the Metriplectic tab: form, MD-versus-model comparison, figures, the tab
tabs          the registered tabs (data, Fokker-Planck, rollout, runs, kernel, metriplectic)
app           App, the frame (sidebar + tabs)
"""
from .app import App
from .config import Config
from .tabs import TABS

__all__ = ["App", "Config", "TABS"]
