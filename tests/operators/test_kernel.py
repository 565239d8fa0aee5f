"""The kernel-operator family: options, bad input, files and training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from collop.cli import main
from collop.io import open_dataset, write_dataset
from collop.operators.kernel import KernelOperator, kernel_stencil


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
