"""Faults the sweep tests inject into dask worker processes (sent by value with ``client.run``)."""
from __future__ import annotations


def break_seed(seed: int) -> None:
    """Make every training with ``seed`` raise a RuntimeError (not a CollopError) in this process."""
    import collop.pipeline.train as pt

    original = getattr(pt, "_unbroken_trainer", pt.Trainer)

    class Broken(original):
        def fit(self, op, data):
            if self.seed == seed:
                raise RuntimeError(f"injected failure for seed {seed}")
            return super().fit(op, data)

    pt._unbroken_trainer = original
    pt.Trainer = Broken


def restore() -> None:
    import collop.pipeline.train as pt

    pt.Trainer = getattr(pt, "_unbroken_trainer", pt.Trainer)
