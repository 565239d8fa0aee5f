"""The app's tabs, in order. A later dashboard adds itself with one line here."""
from __future__ import annotations

from .data_tab import DataTab
from .fp_tab import FPTab
from .kernel_tab import KernelTab
from .metriplectic_tab import MetriplecticTab
from .rollout_tab import RolloutTab
from .runs_tab import RunsTab

#: Tab classes (subclasses of :class:`dashboards.base.Tab`), in display order.
TABS = [DataTab, FPTab, RolloutTab, RunsTab, KernelTab, MetriplecticTab]
