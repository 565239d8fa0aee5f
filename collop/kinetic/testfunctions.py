"""Test functions ``psi_k(v)`` of the weak-form loss (Zhao et al., Appendix B).

Every built-in test function is *radial about a centre*:

.. math::
    \\psi(v) = \\phi(q), \\qquad q = |y|^2, \\qquad y = (v/\\sigma - c)/w,

with ``sigma`` the velocity scale of the data (the thermal speed), a centre
``c`` and a width ``w`` in units of ``sigma``. Its derivatives then have the
form the weak-form terms need, without 3 x 3 matrices:

.. math::
    \\nabla\\psi = \\gamma\\, y, \\quad \\nabla\\nabla\\psi = \\alpha I + \\beta\\, y y^T,
    \\quad \\gamma = \\frac{2\\phi'}{w\\sigma}, \\;
    \\alpha = \\frac{2\\phi'}{(w\\sigma)^2}, \\; \\beta = \\frac{4\\phi''}{(w\\sigma)^2}.

The four of Appendix B, by name (``C_0`` and ``c_0`` are collop's choices;
the paper does not give them):

===============  ==================================  =========================
spec             ``psi``                              ``phi(q)``
===============  ==================================  =========================
``exp``          ``exp(-|v|^2)``                      ``e^{-q}``
``v2exp``        ``|v|^2 exp(-|v|^2)``                ``q e^{-q}``
``shell:C0``     ``exp(-(|v|^2 - C0)^2)``             ``e^{-(q - C0)^2}``
``gauss:cx,cy,cz[,w]``  ``exp(-|v - c|^2 / w^2)``     ``e^{-q}``
===============  ==================================  =========================

(``v`` in units of ``sigma``). :data:`PAPER_TEST_FUNCTIONS` is the default
set: ``exp``, ``v2exp``, ``shell:3`` (the shell ``|v|^2 = 3 sigma^2``, the
mean of ``|v|^2``) and ``gauss:1,0,0``. More test functions are added by
listing more specs, or by registering a new ``phi`` in :data:`PROFILES`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..options import SpecError

__all__ = ["TestFunctions", "PROFILES", "PAPER_TEST_FUNCTIONS", "RICH_TEST_FUNCTIONS", "parse_test_function"]

#: The default set: the four test functions of Appendix B.
PAPER_TEST_FUNCTIONS = ("exp", "v2exp", "shell:3", "gauss:1,0,0")

#: A richer set of 24 (the paper's four, two more shells, two centred Gaussians of other widths and 16
#: off-centre Gaussians): used to fit kernels with more freedom than Landau's (CM1, CM2) on known-truth data.
RICH_TEST_FUNCTIONS = PAPER_TEST_FUNCTIONS + ("shell:1", "shell:6", "gauss:0,0,0,0.5", "gauss:0,0,0,2") + tuple(
    f"gauss:{c[0]},{c[1]},{c[2]},{w}" for c in [(1, 0, 0), (0, 1, 0), (1, 1, 0), (2, 0, 0), (0, 0, 1.5), (1, 1, 1),
                                                 (-1, 0.5, 0), (0, 2, 0)] for w in (0.7, 1.4))


def _exp(q, C):
    e = torch.exp(-q)
    return e, -e, e


def _v2exp(q, C):
    e = torch.exp(-q)
    return q * e, (1 - q) * e, (q - 2) * e


def _shell(q, C):
    d = q - C
    e = torch.exp(-d * d)
    return e, -2 * d * e, (4 * d * d - 2) * e


#: profile name -> (phi, phi', phi'') as a function of (q, C) and how many numbers the spec takes
PROFILES: dict[str, tuple[Callable, tuple[int, int]]] = {
    "exp": (_exp, (0, 0)),
    "v2exp": (_v2exp, (0, 0)),
    "shell": (_shell, (1, 1)),
    "gauss": (_exp, (3, 4)),
}


@dataclass(frozen=True)
class _Spec:
    profile: str
    centre: tuple[float, float, float]
    width: float
    C: float


def parse_test_function(spec: str) -> _Spec:
    """``"name[:x,y,...]"`` -> its profile, centre, width and constant (:class:`SpecError` if bad)."""
    name, _, rest = str(spec).strip().partition(":")
    if name not in PROFILES:
        raise SpecError(f"test_functions: unknown test function {spec!r}; known: "
                        + ", ".join(PROFILES), field="objective.test_functions")
    lo, hi = PROFILES[name][1]
    try:
        nums = [float(x) for x in rest.split(",")] if rest.strip() else []
    except ValueError:
        raise SpecError(f"test_functions: {spec!r}: parameters must be numbers", field="objective.test_functions") from None
    if not lo <= len(nums) <= hi or not all(np.isfinite(nums)):
        raise SpecError(f"test_functions: {spec!r} takes {lo}" + (f" to {hi}" if hi > lo else "")
                        + " finite number(s)", field="objective.test_functions")
    if name == "gauss":
        w = nums[3] if len(nums) == 4 else 1.0
        if w <= 0:
            raise SpecError(f"test_functions: {spec!r}: the width must be positive",
                            field="objective.test_functions")
        return _Spec("gauss", (nums[0], nums[1], nums[2]), w, 0.0)
    return _Spec(name, (0.0, 0.0, 0.0), 1.0, nums[0] if nums else 0.0)


class TestFunctions:
    """A set of radial test functions evaluated on velocities.

    Parameters
    ----------
    specs : sequence of str
        Test-function specs (see the module docstring).
    v_scale : float
        ``sigma``, the velocity scale (data units) the specs are written in.
    """

    __test__ = False   # not a pytest class

    def __init__(self, specs, v_scale: float):
        self.specs = tuple(str(s) for s in specs)
        if not self.specs:
            raise SpecError("test_functions: at least one test function is needed",
                            field="objective.test_functions")
        self.parsed = [parse_test_function(s) for s in self.specs]
        self.v_scale = float(v_scale)
        self.K = len(self.parsed)

    def __len__(self) -> int:
        return self.K

    def arrays(self):
        """``(centres (K, 3), widths (K,), profile codes (K,), constants (K,))`` for the numba kernel."""
        from ._pair_kernels import PROFILE_CODES

        return (np.array([p.centre for p in self.parsed], dtype=np.float64),
                np.array([p.width for p in self.parsed], dtype=np.float64),
                np.array([PROFILE_CODES[p.profile] for p in self.parsed], dtype=np.int64),
                np.array([p.C for p in self.parsed], dtype=np.float64))

    def _y(self, v):
        c = torch.tensor([p.centre for p in self.parsed], dtype=v.dtype, device=v.device)     # (K, 3)
        w = torch.tensor([p.width for p in self.parsed], dtype=v.dtype, device=v.device)      # (K,)
        y = (v[..., None, :] / self.v_scale - c) / w[:, None]                                  # (..., K, 3)
        return y, w

    def values(self, v: torch.Tensor) -> torch.Tensor:
        """``psi_k(v)``: shape ``(..., K)`` for ``v (..., 3)``."""
        y, _ = self._y(v)
        q = (y * y).sum(-1)
        return torch.stack([PROFILES[p.profile][0](q[..., k], p.C)[0] for k, p in enumerate(self.parsed)], -1)

    def derivatives(self, v: torch.Tensor):
        """``(gamma, alpha, beta, y)`` with ``grad psi = gamma y``, ``hess psi = alpha I + beta y y^T``.

        Shapes ``(..., K)`` (three) and ``(..., K, 3)``; in data units.
        """
        y, w = self._y(v)
        q = (y * y).sum(-1)
        d1, d2 = [], []
        for k, p in enumerate(self.parsed):
            _, f1, f2 = PROFILES[p.profile][0](q[..., k], p.C)
            d1.append(f1)
            d2.append(f2)
        d1, d2 = torch.stack(d1, -1), torch.stack(d2, -1)
        ws = w * self.v_scale
        return 2 * d1 / ws, 2 * d1 / ws ** 2, 4 * d2 / ws ** 2, y

    def gradient(self, v: torch.Tensor) -> torch.Tensor:
        """``grad psi_k(v)``: shape ``(..., K, 3)``."""
        g, _, _, y = self.derivatives(v)
        return g[..., None] * y

    def hessian(self, v: torch.Tensor) -> torch.Tensor:
        """``hess psi_k(v)``: shape ``(..., K, 3, 3)``."""
        _, al, be, y = self.derivatives(v)
        eye = torch.eye(3, dtype=v.dtype, device=v.device)
        return al[..., None, None] * eye + be[..., None, None] * y[..., :, None] * y[..., None, :]
