"""The contract every operator family implements.

An *operator family* (Fokker-Planck, kernel, metriplectic, ...) is one
subclass of :class:`Operator` in one module, plus one line in
:mod:`collop.operators.registry`. The pipeline, the command line,
``collop evaluate``, the schema's operator forms and the app find families
there, so adding a family edits no other file.

A family declares

``family``
    Its registry name (``"fokker_planck"``); ``cli_name`` is the short name of
    ``collop train NAME`` (``"fp"``).
``Options``, ``Penalties``
    :func:`collop.options.options` dataclasses: what the family is built
    from (model, symmetry, ...) and the weights of its penalty terms. Both are
    validated from JSON, so a job spec names a bad field in one line.
``objective``
    The registry name of the training objective it is fitted with
    (:mod:`collop.objectives`: ``"rollout"``, the unrolled rollout MAE).
``forms``
    The operator-file forms it writes and reads (``attrs["operator"]``), each
    with its variables and their dimensions; :mod:`collop.schema` checks
    operator files against them.
``coefficients``
    The coefficient variables of each form, in the order plots show them.

and implements the methods below. Grid families also implement
:meth:`Operator.stencil`, the per-frame stencil of radius ``r`` that
:mod:`collop.solvers` advances.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..options import options

__all__ = ["Operator", "NoPenalties"]


@options
class NoPenalties:
    """A family without penalty terms."""


class Operator(nn.Module):
    """Base class of operator families (see the module docstring).

    Attributes
    ----------
    method : str
        The method name written to operator files and run folders
        (``ps-tensor``, ``ps-nn``, ...).
    velocity_units, time_units : str
        Units of the data the operator acts on.
    """

    family: ClassVar[str] = ""
    cli_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type]
    Penalties: ClassVar[type] = NoPenalties
    objective: ClassVar[str] = "rollout"
    forms: ClassVar[dict[str, dict[str, tuple[str, ...]]]] = {}
    coefficients: ClassVar[dict[str, tuple[str, ...]]] = {}

    method: str = ""
    velocity_units: str = ""
    time_units: str = ""

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_options(cls, options, data, *, seed: int = 0) -> "Operator":
        """A fresh operator for training on ``data``.

        Parameters
        ----------
        options : cls.Options
            Validated options.
        data : object
            The training data as the family's objective prepares it (for grid
            families a :class:`collop.data.Record`: grid, frame times, units).
        seed : int
            Seed of random initialisations.
        """
        raise NotImplementedError

    @classmethod
    def default_curriculum(cls, options) -> str:
        """The curriculum used when a job spec gives none (a name or ``N_u:lr:epochs,...``)."""
        raise NotImplementedError

    @classmethod
    def method_name(cls, options) -> str:
        """The method name a training with ``options`` writes (``ps-tensor``, ...)."""
        return cls.family

    @classmethod
    def check_size(cls, options, data) -> None:
        """Raise :class:`collop.options.SpecError` if ``options`` would not fit in memory."""

    @classmethod
    def from_dataset(cls, ds) -> "Operator":
        """A fixed operator from one of the family's operator files (data units)."""
        raise NotImplementedError

    @classmethod
    def validate_dataset(cls, ds, source) -> None:
        """Checks of an operator file beyond its variables' dimensions (override if needed)."""

    # -- training -----------------------------------------------------------------------
    @torch.no_grad()
    def project_(self) -> None:
        """Project the parameters onto the family's constraints (after every optimiser step)."""

    def penalty(self, penalties, data) -> torch.Tensor:
        """The weighted sum of the penalty terms in ``penalties`` (a scalar tensor)."""
        return torch.zeros((), dtype=torch.float64)

    # -- evaluation -----------------------------------------------------------------------
    def stencil(self, grid, times, dtype=torch.float32) -> torch.Tensor:
        """Per-frame stencil ``W (T, (2r+1)**2, N, M)`` in 1/time units (grid families).

        ``C[f](i, j) = sum_k W[t, k, i, j] f(i + a_k, j + b_k)`` with offsets
        ``(a_k, b_k) = (k // (2r+1) - r, k % (2r+1) - r)``; see :mod:`collop.solvers`.
        """
        raise NotImplementedError(f"the {self.family} family has no grid stencil")

    def to_dataset(self, grid, times, *, source: str = "", attrs: dict | None = None):
        """The operator file (an ``operator`` dataset in data units)."""
        raise NotImplementedError
