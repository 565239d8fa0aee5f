"""The weak-form loss of Zhao et al. (eqs. 4-7, B2-B5) for metriplectic kernels on MD particles.

Notes
-----
For every training run ``m``, frame interval ``l`` and test function ``psi_k``

.. math::
    L = \\operatorname{mean}_{m,l,k}\\, w_{mlk}\\left(a_{mlk} - b_{mlk}\\right)^2,
    \\qquad a_{mlk} = \\frac{1}{N\\,\\delta t_l}\\sum_i
        \\left[\\psi_k(v_i^{l+1}) - \\psi_k(v_i^l)\\right],

where ``a`` (eq. B3) is computed once and ``b``, the model's
``(df/dt|_c, psi_k)``, is estimated each step from ``P`` random pairs
``(n, n')``, ``n != n'`` (eq. B5, in the symmetrised form of
:mod:`collop.kinetic.weakform`), spread evenly over the frames. Two choices
differ from the paper's text, each as an option:

``time_rule``
    How ``b`` is averaged over the frame interval that ``a`` differences
    (:func:`collop.kinetic.weakform.time_weights`): ``"trapezoid"`` (default,
    ``(b(t_l) + b(t_{l+1}))/2``, second order), ``"cubic"`` (the cubic through
    the four nearest frames, fourth order) or ``"forward"`` (eq. 5 as written,
    ``b(t_l)``, first order). The trapezoid's error biases the fitted kernel
    strength by about ``-(lambda dt)^2/12`` for a mode relaxing at rate
    ``lambda``: -2.4 % on the known-truth data with frames 0.2 apart, -0.5 %
    with ``"cubic"`` (docs/metriplectic.md).
``weights``
    ``"equal"`` (default; eq. 4) or ``"noise"``: each residual ``a - b``
    divided by the sampling variance of its MD side
    (:func:`collop.objectives.weak_form_data.noise_weights`, normalised to
    mean 1), the generalised least squares for independent particles. Test
    functions whose MD side is noisy (``v2exp``, ``shell``) then count less;
    on the known-truth data the spread of the fitted Landau ``c0`` over
    datasets drops by about half.
``estimator="split"`` (default)
    The pairs of each frame are split into two halves with estimates
    ``b1, b2`` and the loss is ``mean (a - b1)(a - b2)``. Its expectation is
    the loss of the exact ``b``; the plain ``(a - b)^2`` (``"plain"``) adds
    the variance of ``b``, which grows with the kernel and so biases the fit
    towards weaker kernels. Its value can be negative near the optimum.

The loss is in 1/time**2. Adam's learning rate decays ``x lr_decay`` every
``decay_every`` steps (Appendix B: 0.99 every 2000); the training keeps the
last weights, not the lowest noisy loss.

Scoring (:meth:`WeakForm.evaluate`) rolls the operator forward from each test
run's first frame with :class:`collop.kinetic.CollisionSolver` and reports
the energy distance to the MD velocities at every frame
(:func:`collop.kinetic.diagnostics.energy_distance`), averaged over frames
``t >= 1`` per run, then mean and standard deviation over runs.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ..kinetic.geometry import degenerate_tolerance, pair_frame
from ..kinetic.testfunctions import PAPER_TEST_FUNCTIONS, TestFunctions
from ..kinetic.weakform import md_side, pair_coefficients, pair_contributions, time_weights
from ..options import options
from ..schema import CollopError
from .base import Objective
from .weak_form_data import (WeakFormData, _pair_sample, _src, landau_scale, noise_weights,  # noqa: F401
                             run_velocities, select_runs)

__all__ = ["WeakForm", "WeakFormOptions", "WeakFormData", "landau_scale", "select_runs", "run_velocities",
           "noise_weights"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@options
class WeakFormOptions:
    """Options of the weak-form objective (and of its scoring rollouts).

    Attributes
    ----------
    pairs : int
        ``P``, random pairs per step, spread over all frames of all training runs.
    test_functions : str
        Test functions ``psi_k``, ``;``-separated specs of
        :mod:`collop.kinetic.testfunctions` (default: the four of Appendix B).
    time_rule : {"trapezoid", "cubic", "forward"}
        Average of the model side over a frame interval (see the module docstring).
    weights : {"equal", "noise"}
        Residual weights ``w_mlk``: 1, or the inverse sampling variance of the MD side.
    estimator : {"split", "plain"}
    lr_decay, decay_every : float, int
        Learning-rate decay factor and its interval in steps.
    dtype : {"float32", "float64"}
        Precision of the model side.
    angle : float
        Scoring rollouts: median pair rotation per solver step (radians).
    max_points : int
        Scoring: particles per sample in the energy distance.
    """

    pairs: int = Field(100_000, ge=2, le=100_000_000, description="random particle pairs per step (P, >= 2)")
    test_functions: str = Field(";".join(PAPER_TEST_FUNCTIONS), min_length=1,
                                description="';'-separated test functions (exp, v2exp, shell:C0, "
                                            "gauss:cx,cy,cz[,w]; velocities in thermal speeds)")
    time_rule: Literal["trapezoid", "cubic", "forward"] = Field(
        "trapezoid", description="model side over a frame interval: mean of its two ends (trapezoid), the "
                                 "cubic through the 4 nearest frames (cubic) or its start (forward, eq. 5)")
    weights: Literal["equal", "noise"] = Field("equal", description="residual weights: equal (eq. 4) or the "
                                               "inverse sampling variance of the MD side (noise)")
    estimator: Literal["split", "plain"] = Field("split", description="unbiased product of two half-samples "
                                                 "(split) or the plain square (plain)")
    keep: Literal["last", "average"] = Field(
        "last", description="weights kept from each stage: the last iterate (last), or the mean of the iterates "
                            "over the stage's second half (average: Polyak-Ruppert averaging of Adam's noisy steps)")
    lr_decay: float = Field(0.99, gt=0, le=1, allow_inf_nan=False, description="learning-rate decay factor")
    decay_every: int = Field(2000, ge=1, description="steps between learning-rate decays")
    dtype: Literal["float32", "float64"] = Field("float32", description="precision of the model side")
    angle: float = Field(0.1, gt=0, le=1, allow_inf_nan=False,
                         description="scoring rollouts: median pair rotation per solver step (rad)")
    max_points: int = Field(2000, ge=10, le=1_000_000,
                            description="scoring: particles per sample in the energy distance")


class WeakForm(Objective):
    """The weak-form loss (see the module docstring) for the ``metriplectic`` family.

    Parameters
    ----------
    options : WeakFormOptions, optional
    penalties : object, optional
    """

    name = "weak_form"
    Options = WeakFormOptions
    data_kind = "particles"
    keep = "last"                 # the loss is a noisy estimate: keep the last weights
    #: ``"auto"``: the numba pair kernel in float32; ``"torch"``: PyTorch only (the reference)
    backend = "auto"
    snapshot_every = 250
    checkpoint_every = 500

    def __init__(self, options=None, penalties=None):
        super().__init__(options, penalties)
        o = self.options
        self.lr_decay = (o.lr_decay, o.decay_every)
        self.keep = o.keep
        self.dtype = _DTYPES[o.dtype]

    # -- data ---------------------------------------------------------------------------
    @classmethod
    def select(cls, ds, names) -> list[str]:
        """Check the run names of an MD file (``"all"``: every run)."""
        return select_runs(ds, names)

    @classmethod
    def load(cls, ds, names, options=None, *, role: str = "train"):
        """The runs ``names`` of the MD particles file ``ds`` (:class:`WeakFormData`; test data: checked only)."""
        from ..operators.metriplectic import KernelGrid

        opts = options if options is not None else cls.Options()
        names = select_runs(ds, names)
        src = _src(ds)
        if ds.sizes.get("time", 0) < 2:
            raise CollopError(f"{src}: has {ds.sizes.get('time', 0)} frame(s); the weak form needs at least 2")
        if ds.sizes.get("particle", 0) < 2:
            raise CollopError(f"{src}: needs at least 2 particles per run")
        v = np.stack([run_velocities(ds, n) for n in names])          # (M, T, N, 3)
        if role != "train":
            return None
        TestFunctions(opts.test_functions.split(";"), 1.0)             # parse errors before any work
        vbar = v.mean(2)
        dv = v - vbar[:, :, None, :]
        v_scale = float(np.sqrt((dv * dv).sum(-1).mean() / 3))
        if not (v_scale > 0 and math.isfinite(v_scale)):
            raise CollopError(f"{src}: the velocities of runs {', '.join(names)} have no spread")
        times = np.asarray(ds["time"].values, dtype=float)
        data = WeakFormData(v=v, times=times, names=list(names), v_scale=v_scale, vbar=vbar,
                            velocity_units=str(ds.attrs.get("velocity_units", "")),
                            time_units=str(ds.attrs.get("time_units", "")), source=src,
                            attrs={k: ds.attrs[k] for k in ("gamma", "n_ions", "preset") if k in ds.attrs})
        with torch.no_grad():
            v1, v2, vb = _pair_sample(data, 100_000, 0)
            fr = pair_frame(torch.as_tensor(v1), torch.as_tensor(v2), torch.as_tensor(vb))
            data.grid = KernelGrid.from_pairs(fr.a.numpy(), fr.rho.numpy(), fr.s.numpy())
        return data

    def prepare(self, data: WeakFormData) -> None:
        super().prepare(data)
        o = self.options
        self.tf = TestFunctions(o.test_functions.split(";"), data.v_scale)
        M, T, N, _ = data.v.shape
        self.M, self.T, self.N = M, T, N
        self.a = torch.as_tensor(md_side(data.v, data.times, self.tf))         # (M, T-1, K) float64
        self.W = torch.as_tensor(time_weights(data.times, o.time_rule))          # (T-1, T)
        self.w = (torch.as_tensor(noise_weights(data.v, data.times, self.tf)) if o.weights == "noise"
                  else torch.ones_like(self.a))
        self.V = torch.as_tensor(data.v.reshape(M * T * N, 3), dtype=self.dtype)
        self.vbar = torch.as_tensor(data.vbar.reshape(M * T, 3), dtype=self.dtype)
        self.tf_arrays = self.tf.arrays()

    # -- the loss ---------------------------------------------------------------------------
    def _frame_sums(self, op):
        """Per-half, per-frame sums of pair contributions and pair counts: ``(2, F, K)``, ``(2, F)``."""
        P, F, N = self.options.pairs, self.M * self.T, self.N
        counts = torch.full((F,), P // F, dtype=torch.long)
        extra = P % F
        if extra:
            counts[torch.randperm(F)[:extra]] += 1
        frame = torch.repeat_interleave(torch.arange(F), counts)
        start = torch.cumsum(counts, 0) - counts
        rank = torch.arange(P) - start[frame]
        half = rank % 2
        i = torch.randint(0, N, (P,))
        j = (i + torch.randint(1, N, (P,))) % N
        c = self._contributions(op, frame, i, j)                             # (P, K)
        key = half * F + frame
        K = c.shape[1]
        sums = torch.zeros(2 * F, K, dtype=c.dtype).index_add(0, key, c).reshape(2, F, K)
        n = torch.zeros(2 * F, dtype=c.dtype).index_add(0, key, torch.ones(P, dtype=c.dtype)).reshape(2, F)
        return sums, n

    def _contributions(self, op, frame, i, j):
        """Each pair's weak-form terms ``(P, K)``: numba for float32, PyTorch otherwise (same formulas)."""
        kernel, N = op.kernel, self.N
        if self.dtype == torch.float32 and self.backend != "torch":
            from ..kinetic._pair_kernels import pair_terms

            x, coef = pair_terms(self.V.numpy(), self.vbar.numpy(), frame.numpy(), i.numpy(), j.numpy(), N,
                                 *self.tf_arrays, float(self.data.v_scale), bool(kernel.isotropic),
                                 degenerate_tolerance(torch.float32))
            sig = float(self.data.v_scale)
            x, coef = torch.from_numpy(x), torch.from_numpy(coef)
            a, rho, s = x[:, 0] * sig, x[:, 1] * sig, x[:, 2] * (sig * sig)
            if kernel.isotropic:
                Gr, _, _ = kernel.gains(a.to(kernel.dtype), rho.to(kernel.dtype), s.to(kernel.dtype))
                return Gr.to(coef.dtype)[:, None] * coef[0]
            Gr, Gs, dGr = kernel.gains(a, rho, s, ds=True)
            return Gr[:, None] * coef[0] + Gs[:, None] * coef[1] + dGr[:, None] * coef[2]
        v1, v2 = self.V[frame * N + i], self.V[frame * N + j]
        fr = pair_frame(v1, v2, self.vbar[frame])
        with torch.no_grad():
            co = pair_coefficients(fr, self.tf.derivatives(v1), self.tf.derivatives(v2), kernel.isotropic)
        return pair_contributions(kernel, fr, co)

    def loss(self, op, stage):
        sums, n = self._frame_sums(op)
        M, T = self.M, self.T
        if self.options.estimator == "plain":
            sums, n = sums.sum(0, keepdim=True), n.sum(0, keepdim=True)
        b = (sums / n.clamp_min(1)[..., None]).double().reshape(-1, M, T, sums.shape[-1])
        missing = (n == 0).reshape(-1, M, T).double()
        b = torch.einsum("lt,hmtk->hmlk", self.W, b)                           # interval means (H, M, T-1, K)
        ok = torch.einsum("lt,hmt->hml", (self.W != 0).double(), missing) == 0  # every frame used has pairs
        res = self.a[None] - b
        ok = ok.all(0)[..., None].expand_as(res[0])
        prod = self.w * res[0] * res[-1]
        loss = prod[ok].mean() if bool(ok.any()) else prod.sum() * 0
        return loss, {"pairs": int(self.options.pairs)}

    # -- scoring ------------------------------------------------------------------------------
    @classmethod
    def evaluate(cls, operator, data, names, options=None) -> dict:
        """Energy distance between rollouts of ``operator`` and the MD runs ``names`` of ``data``.

        Parameters
        ----------
        operator : Metriplectic or xarray.Dataset
            The operator or its file.
        data : xarray.Dataset
            The MD particles file.
        names : list of str
            Runs to score (each rolled out from its first frame).
        options : WeakFormOptions, optional
            ``angle`` (solver step), ``max_points`` (distance subsample).

        Returns
        -------
        dict
            ``energy_distance`` and ``energy_distance_std`` (mean and std over
            runs of the per-run mean over frames ``t >= 1``), ``per_population``
            (per run), ``per_time`` (per run, every frame), ``speed_l1``
            (per run, mean over frames ``t >= 1``), ``times``,
            ``solver_steps``, ``metric``.
        """
        from ..kinetic.diagnostics import distance_series
        from ..kinetic.solver import CollisionSolver
        from ..operators.metriplectic import Metriplectic

        opts = options if options is not None else cls.Options()
        op = operator if isinstance(operator, Metriplectic) else Metriplectic.from_dataset(operator)
        names = select_runs(data, names)
        times = np.asarray(data["time"].values, dtype=float)
        per, per_time, speed, steps = {}, {}, {}, {}
        for k, name in enumerate(names):
            md = run_velocities(data, name)
            solver = CollisionSolver(op.kernel, angle=opts.angle, seed=k)
            model = solver.rollout(md[0], times)
            d = distance_series(model, md, max_points=opts.max_points, seed=k)
            e = d["energy_distance"]
            per_time[name] = [float(x) for x in e]
            per[name] = float(np.mean(e[1:])) if e.size > 1 else float(e[0])
            speed[name] = float(np.mean(d["speed_l1"][1:])) if e.size > 1 else float(d["speed_l1"][0])
            steps[name] = int(solver.steps_)
        vals = np.array(list(per.values()))
        return {"metric": "energy_distance", "energy_distance": float(vals.mean()),
                "energy_distance_std": float(vals.std()), "per_population": per, "per_time": per_time,
                "speed_l1": speed, "times": [float(t) for t in times], "solver_steps": steps,
                "velocity_units": str(data.attrs.get("velocity_units", ""))}
