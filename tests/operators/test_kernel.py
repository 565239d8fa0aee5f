"""Kernel operators: exact correspondence with the Fokker-Planck flux form, and solver checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from collop.operators.kernel import (KernelOperator, kernel_from_fokker_planck, kernel_radius, kernel_stencil,
                                     window_offsets)
from collop.solvers import ForwardEuler, fp_flux_divergence, stencil_apply, stencil_tendency

N, M, H = 9, 8, 0.3
GEN = torch.Generator().manual_seed(0)


def _coeffs(full: bool):
    c = torch.rand(1, 5, N, M, dtype=torch.float64, generator=GEN)
    c[:, :2] -= 0.5                                   # A of either sign
    c[:, 2:4] += 0.2                                  # D_xx, D_yy > 0
    c[:, 4] = 0.3 * (c[:, 4] - 0.5) if full else 0.0  # |D_xy| small enough for D >= 0
    return c


def _f():
    return torch.rand(1, 1, N, M, dtype=torch.float64, generator=GEN)


# round-off: every tendency is a sum of O(10) terms of O(1/h^2) magnitude in float64
TOL = 1e-12


@pytest.mark.parametrize("scheme, k, full", [("forward", 2, False), ("forward", 3, True), ("forward", 4, True),
                                             ("backward", 3, False), ("backward", 3, True),
                                             ("backward", 4, True)])
def test_kernel_reproduces_the_fokker_planck_tendency(scheme, k, full):
    """The right-hand side of collop's own FP solver, to round-off, from the kernel built of A and D."""
    c, f = _coeffs(full), _f()
    K = kernel_from_fokker_planck(c, H, k, scheme)
    W = kernel_stencil(K, H, scheme, k)
    got = stencil_tendency(f, W)[0, 0]
    want = fp_flux_divergence(c * f[0], H)[0]
    scale = float(want.abs().max())
    assert float((got - want).abs().max()) <= TOL * scale


@pytest.mark.parametrize("scheme, k, full", [("forward", 2, True), ("forward", 1, False), ("backward", 2, False),
                                             ("centred", 3, False)])
def test_windows_too_small_to_hold_the_fokker_planck_flux_are_refused(scheme, k, full):
    with pytest.raises(ValueError):
        kernel_from_fokker_planck(_coeffs(full), H, k, scheme)


def test_offsets_and_radius():
    assert list(window_offsets(2)) == [-1, 0] and list(window_offsets(2, "paper")) == [0, 1]
    assert list(window_offsets(3)) == [-1, 0, 1] and list(window_offsets(4)) == [-2, -1, 0, 1]
    assert [kernel_radius(k) for k in range(1, 6)] == [1, 1, 2, 2, 3]
    assert [kernel_radius(k, "backward") for k in range(1, 6)] == [1, 2, 2, 3, 3]
    assert [kernel_radius(k, "centred") for k in range(1, 6)] == [1, 2, 2, 3, 3]


def _random_K(k, scale=1.0, T=1):
    return scale * (torch.rand(T, 2, N, M, k, k, dtype=torch.float64, generator=GEN) - 0.5)


SCHEMES = ("forward", "backward", "centred")


def _tendency_by_definition(K, f, h, scheme, k, convention):
    """``C = sum_i D_i (K_i * f)`` written out: ``f = 0`` outside the grid, zero flux on the outer faces."""
    T, _, n, m = K.shape[:4]
    off = [int(o) for o in window_offsets(k, convention)]
    w0, w1 = {"forward": (0.0, 1.0), "backward": (1.0, 0.0), "centred": (0.5, 0.5)}[scheme]
    R = max(abs(o) for o in off)
    fp = torch.nn.functional.pad(f, (R, R, R, R))            # (T, N + 2R, M + 2R)
    out = torch.zeros(T, n, m, dtype=K.dtype)
    for comp in (0, 1):
        g = torch.zeros(T, n, m, dtype=K.dtype)
        for a, l in enumerate(off):
            for b, mm in enumerate(off):
                g += K[:, comp, :, :, a, b] * fp[:, R + l:R + l + n, R + mm:R + mm + m]
        gi = g if comp == 0 else g.transpose(1, 2)           # faces along the first axis of gi
        F = torch.zeros(T, gi.shape[1] + 1, gi.shape[2], dtype=K.dtype)
        F[:, 1:-1] = w0 * gi[:, :-1] + w1 * gi[:, 1:]
        div = (F[:, 1:] - F[:, :-1]) / h
        out += div if comp == 0 else div.transpose(1, 2)
    return out


@pytest.mark.parametrize("convention", ["reference", "paper"])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_stencil_matches_the_definition(scheme, k, convention):
    """Any kernel, every scheme and convention: the stencil's tendency is the operator as defined."""
    K = _random_K(k, T=2)
    f = torch.rand(2, 1, N, M, dtype=torch.float64, generator=GEN)
    W = kernel_stencil(K, H, scheme, k, convention)
    assert W.shape == (2, (2 * kernel_radius(k, scheme, convention) + 1) ** 2, N, M)
    got = torch.stack([stencil_tendency(f[t:t + 1], W[t:t + 1])[0, 0] for t in range(2)])
    want = _tendency_by_definition(K, f[:, 0], H, scheme, k, convention)
    assert float((got - want).abs().max()) <= TOL * float(want.abs().max())


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_mass_is_conserved_over_1000_steps(scheme, k):
    """Zero flux through the outer faces: the tendency sums to zero whatever K is.

    A random kernel is not a stable operator; the step is chosen so that 1000 steps grow ``f`` at
    most by ``e`` (``(1 + |W| dt)**1000``), while a leak through a boundary face would still move
    the mass by ~1e-3 of the boundary cells' mass per step, far above the tolerance.
    """
    from collop.solvers._kernels import pad, step_padded

    W = kernel_stencil(_random_K(k), H, scheme, k)
    dt = 1e-3 / float(W.abs().sum(1).max())
    f = _f()
    m0 = float(f.sum())
    r = kernel_radius(k, scheme)
    Wdt = (W * dt).numpy()
    g = pad(f.numpy(), r)                     # the fused kernel the solver runs, step after step
    for _ in range(1000):
        g = step_padded(g, Wdt)
    assert np.isfinite(g).all()
    assert abs(float(g.sum()) - m0) <= 1e-12 * m0


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_a_zero_kernel_leaves_f_unchanged(scheme, k):
    W = kernel_stencil(torch.zeros(1, 2, N, M, k, k, dtype=torch.float64), H, scheme, k)
    f = _f()
    assert torch.equal(stencil_apply(f, W * 0.1), f)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_gradcheck_of_a_step(scheme, k):
    n, m = 6, 5
    K = (torch.rand(1, 2, n, m, k, k, dtype=torch.float64, generator=GEN) - 0.5).requires_grad_()
    f = torch.rand(1, 2, n, m, dtype=torch.float64, generator=GEN).requires_grad_()

    def step(K, f):
        return stencil_apply(f, 0.05 * kernel_stencil(K, 0.5, scheme, k))

    assert torch.autograd.gradcheck(step, (K, f), eps=1e-6, atol=1e-8, fast_mode=True)


# --- the family: options, files, training --------------------------------------------------------

from collop.cli import main  # noqa: E402
from collop.io import open_dataset, write_dataset  # noqa: E402


@pytest.mark.parametrize("argv, words", [
    (["--k", "0"], ["--k"]),
    (["--k", "40"], ["--k", "less than or equal to 15"]),
    (["--scheme", "upwind"], ["--scheme", "invalid choice"]),
])
def test_bad_kernel_options_are_one_line(tmp_path, capsys, argv, words, kernel_data):
    code = main(["train", "kernel", str(kernel_data), "--train", "a", *argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("collop: error: ")
    for w in words:
        assert w in err[0], err[0]
    assert not (tmp_path / "o").exists()


def test_k_larger_than_the_grid_is_refused(tmp_path, capsys, kernel_data):
    ds = open_dataset(kernel_data, "phasespace")
    write_dataset(ds.isel(vx=slice(0, 8), vy=slice(0, 8)), tmp_path / "small.nc")
    code = main(["train", "kernel", str(tmp_path / "small.nc"), "--train", "centre", "--k", "9",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--k" in err[0] and "larger than the grid" in err[0]
    assert not (tmp_path / "o").exists()


def test_tie_needs_a_square_grid(tmp_path, capsys, kernel_data):
    ds = open_dataset(kernel_data, "phasespace")
    write_dataset(ds.isel(vy=slice(0, -2)), tmp_path / "rect.nc")
    code = main(["train", "kernel", str(tmp_path / "rect.nc"), "--train", "centre", "--tie", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--tie" in err[0] and "square" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def kernel_data(tmp_path_factory, fp_data):
    """The suite's known-operator record (4 populations, 21 x 21, 10 frames) as a file."""
    path = tmp_path_factory.mktemp("kernel") / "ps.nc"
    write_dataset(fp_data.ds, path)
    return path


def test_kernel_file_round_trip_and_training(tmp_path, kernel_data):
    """Training lowers the loss; the written file gives back the trained stencil."""
    from collop.data import Record
    from collop.grid import VelocityGrid
    from collop.pipeline import TrainSpec, run

    res = run(TrainSpec(data=str(kernel_data), train=["centre", "right"], test=["down"], family="kernel",
                        options={"k": 2, "tie": True}, curriculum="1:1e-2:60", out=str(tmp_path / "r")))
    ev = [e for e in (tmp_path / "r" / "events.jsonl").read_text().splitlines() if '"event": "epoch"' in e]
    import json
    losses = [json.loads(e)["loss"] for e in ev]
    # from the zero kernel (no dynamics at all) 60 epochs must learn a good part of the drift-diffusion
    assert res.status == "finished" and losses[-1] < 0.7 * losses[0]
    op_ds = open_dataset(tmp_path / "r" / "operator.nc", "operator")
    assert op_ds.attrs["scheme"] == "forward" and op_ds.sizes["l"] == 2
    K = op_ds["K"].values
    # the tie: K_y(vx, vy, l, m) = K_x(vy, vx, m, l)
    np.testing.assert_allclose(K[:, 1], np.swapaxes(np.swapaxes(K[:, 0], 1, 2), 3, 4), rtol=0, atol=1e-12)
    ds = open_dataset(kernel_data, "phasespace")
    grid = VelocityGrid.from_dataset(ds)
    op = KernelOperator.from_dataset(op_ds)
    W = op.stencil(grid, ds.time.values[:-1], dtype=torch.float64)
    W2 = kernel_stencil(torch.as_tensor(K), grid.h, "forward", 2).expand_as(W)
    assert torch.allclose(W, W2, rtol=1e-12, atol=1e-12)
    assert Record.from_dataset(ds, ["down"]).f.shape[0] == 1
