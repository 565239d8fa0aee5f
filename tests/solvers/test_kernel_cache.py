"""The compiled kernels load from numba's disk cache in a new process.

Every ``collop train`` is a new process; a kernel that misses the cache is
compiled again in each one (about 30 s for the training kernels on the
project's 2-core machine, against about 1 s to load them).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json
import numpy as np
from collop.solvers import _kernels as k
f = np.ones((2, 1, 5, 5), np.float32)
W = np.zeros((2, 9, 5, 5), np.float32)
R, offs = k.steps_padded(k.pad(f), W, np.array([1, 2]))
ks = k._compiled(1)
print(json.dumps({name: [sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values())]
                  for name, d in (("pad_into", ks.pad_into), ("forward_multi", ks.forward_multi))}))
"""


def _probe(cache: Path) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=600, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_a_second_process_loads_the_kernels_from_the_disk_cache(tmp_path):
    first = _probe(tmp_path)
    assert all(miss >= 1 for _, miss in first.values()), first       # compiled and written to the cache
    second = _probe(tmp_path)
    assert all(hit >= 1 and miss == 0 for hit, miss in second.values()), second
