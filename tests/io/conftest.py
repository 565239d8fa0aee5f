"""Fixtures of the reader tests: small inputs in each foreign layout (see synth_inputs.py)."""
from __future__ import annotations

import numpy as np
import pytest
from synth_inputs import osiris_truth, refcode_counts, write_raw, write_refcode_population


@pytest.fixture
def osiris_run(tmp_path):
    """A run folder ``run/MS/RAW/electrons`` of 3 dumps, particle order shuffled in each."""
    tags, p = osiris_truth()
    rng = np.random.default_rng(1)
    root = tmp_path / "run"
    folder = root / "MS" / "RAW" / "electrons"
    for k in range(p.shape[0]):
        perm = rng.permutation(tags.shape[0])
        write_raw(folder / f"RAW-electrons-{k:06d}.h5", time=0.5 * k, iteration=10 * k,
                  tags=tags[perm], p=p[k][perm])
    return root, tags, p


@pytest.fixture
def refcode_dir(tmp_path):
    """A dataset folder with populations ``normal_-2_0`` and ``ring_1.0`` (frames 5..8)."""
    root = tmp_path / "dataset"
    ca, cb = refcode_counts(seed=0), refcode_counts(seed=1)
    write_refcode_population(root / "normal_-2_0", ca)
    write_refcode_population(root / "ring_1.0", cb)
    return root, {"normal_-2_0": ca, "ring_1.0": cb}
