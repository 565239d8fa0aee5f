"""A new operator family is one module plus one registry line: no other file changes.

This module defines a toy family (constant-coefficient pure diffusion), registers
it, and uses it everywhere a family is looked up: the pipeline, the generated
``collop train`` command, ``collop evaluate``, the schema's operator forms and
the app's list of runs.
"""
from __future__ import annotations

import json
from typing import ClassVar

import pytest
import torch
from pydantic import Field

from collop.cli import main
from collop.datasets import _attrs
from collop.io import open_dataset
from collop.operators import registry
from collop.operators.base import Operator
from collop.options import options
from collop.pipeline import TrainSpec, run
from collop.solvers import fp_stencil_weights

import xarray as xr


@options
class ToyOptions:
    init: float = Field(0.0, ge=0, description="initial diffusion coefficient (velocity**2/time)")


class ToyDiffusion(Operator):
    """``C[f] = D lap f`` with one learned constant ``D >= 0`` (velocity units**2 / time units)."""

    family = "toy_diffusion"
    cli_name = "toy"
    description = "a constant pure-diffusion operator"
    Options = ToyOptions
    objective = "rollout"
    forms: ClassVar = {"toy_diffusion": {"D": ("time",)}}
    coefficients: ClassVar = {"toy_diffusion": ("D",)}

    def __init__(self, D=0.0, velocity_units="", time_units=""):
        super().__init__()
        self.D = torch.nn.Parameter(torch.tensor(float(D), dtype=torch.float64))
        self.method, self.velocity_units, self.time_units = "toy", velocity_units, time_units

    @classmethod
    def from_options(cls, options, data, *, seed=0):
        return cls(options.init, data.velocity_units, data.time_units)

    @classmethod
    def default_curriculum(cls, options):
        return "1:1e-2:20"

    @classmethod
    def method_name(cls, options):
        return "toy"

    @torch.no_grad()
    def project_(self):
        self.D.clamp_(min=0)

    def stencil(self, grid, times, dtype=torch.float32):
        T = len(times)
        z = torch.zeros((T, 1) + grid.shape, dtype=torch.float64)
        d = (2 * self.D).expand(T, 1, *grid.shape)       # D_xx = D_yy = 2 D: (1/2) div div (D f) = D lap f
        return fp_stencil_weights(torch.cat([z, z, d, d, z], 1), grid.h).to(dtype)

    def to_dataset(self, grid, times, *, source="", attrs=None):
        a = _attrs("operator", self.velocity_units, self.time_units, source, attrs)
        a.update(operator="toy_diffusion", method=self.method)
        return xr.Dataset({"D": (("time",), [float(self.D.detach())])}, coords={"time": [float(times[0])]}, attrs=a)

    @classmethod
    def from_dataset(cls, ds):
        return cls(float(ds["D"].values[0]), ds.attrs["velocity_units"], ds.attrs["time_units"])


@pytest.fixture(autouse=True)
def toy_family():
    registry.register(ToyDiffusion)
    yield
    registry.FAMILIES.pop("toy_diffusion", None)


def test_toy_family_trains_through_the_pipeline_and_the_cli(tiny, tmp_path, capsys):
    spec = TrainSpec(data=str(tiny / "ps.nc"), train=["a", "b"], test=["c"], family="toy_diffusion",
                     options={"init": 0.01}, out=str(tmp_path / "lib"))
    res = run(spec)
    assert res.status == "finished"
    d_lib = float(open_dataset(tmp_path / "lib" / "operator.nc", "operator")["D"].values[0])
    # trained: D moved from its initial value and stayed in the constraint set (D >= 0)
    assert d_lib >= 0 and abs(d_lib - 0.01) > 1e-4
    code = main(["-q", "train", "toy", str(tiny / "ps.nc"), "--train", "a,b", "--test", "c", "--init", "0.01",
                 "--out", str(tmp_path / "cli")])
    assert code == 0
    d_cli = float(open_dataset(tmp_path / "cli" / "operator.nc", "operator")["D"].values[0])
    assert d_cli == d_lib
    info = json.loads((tmp_path / "cli" / "run.json").read_text())
    assert info["kind"] == "toy" and info["method"] == "toy" and info["status"] == "finished"
    capsys.readouterr()
    assert main(["evaluate", "--operator", str(tmp_path / "cli" / "operator.nc"), "--data", str(tiny / "ps.nc"),
                 "--populations", "c"]) == 0
    scores = json.loads(capsys.readouterr().out)
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert scores["rollout_mae"] == pytest.approx(metrics["rollout_mae"], rel=1e-12)


def test_toy_family_is_listed_in_the_apps_runs(tiny, tmp_path):
    from dashboards.runstore import list_all

    runs = tmp_path / "runs"
    run(TrainSpec(data=str(tiny / "ps.nc"), train=["a"], family="toy_diffusion", out=str(runs / "toy-1")))
    listed = {r["id"]: r for r in list_all(runs)}
    assert listed["toy-1"]["method"] == "toy" and listed["toy-1"]["status"] == "finished"
    assert listed["toy-1"]["metrics"]["rollout_mae"] >= 0
