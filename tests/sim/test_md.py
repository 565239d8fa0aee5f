"""One-component-plasma MD on OpenMM (:mod:`collop.sim.md`): units, the Ewald energy with its
background term, the equation of state, NVE energy conservation, relaxation to the Maxwellian,
the initial distributions, the file contract and bad input. Small N; each test a few seconds."""
from __future__ import annotations

import json
import math
from itertools import product
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import constants as sc
from scipy import stats
from scipy.special import erfc

from collop.io import open_dataset
from collop.schema import SchemaError, validate
from collop.sim.md import (DISTRIBUTIONS, OCP, MDConfig, MDError, RunSpec, generate, preset, sample,
                           simulate)
from collop.sim.md.diagnostics import (energy_drift, maxwellian_distance, maxwellian_distance_floor,
                                       temperatures)
from collop.sim.md.eos import BCC_MADELUNG, excess_energy_caillol, excess_energy_pc2000
from collop.sim.md.run import round_mantissa
from collop.sim.md.system import (box_length, coulomb_constant, energy_offset, ion_mass,
                                  ocp_parameters, openmm_adds_plasma_energy, plasma_energy,
                                  thermal_speed)

# --- units ------------------------------------------------------------------------------------


def test_reduced_units_map_onto_openmm():
    # OpenMM's Coulomb constant is 1/(4 pi eps0) in kJ/mol nm / e^2 (CODATA; OpenMM rounds it)
    k_e = sc.e ** 2 / (4 * math.pi * sc.epsilon_0) / 1e-9 * sc.N_A / 1e3
    assert coulomb_constant() == pytest.approx(k_e, rel=1e-8)
    # omega_p^2 = 3 k_e / (m a^3) with a = 1 nm must be 1 / ps^2
    assert 3 * coulomb_constant() / ion_mass() == pytest.approx(1.0, rel=1e-12)
    assert thermal_speed(1 / 3) == pytest.approx(1.0)
    assert 1000 / box_length(1000) ** 3 == pytest.approx(3 / (4 * math.pi))  # n a^3 = 3/(4 pi)


def test_paper_conditions():
    # Zhao et al.: 1e6 ions in (100 A)^3 at 100 eV and 10 eV have Gamma = 0.232 and 2.321
    hot, cold = ocp_parameters(1e30, 100.0), ocp_parameters(1e30, 10.0)
    assert hot["gamma"] == pytest.approx(0.232, abs=5e-4)
    assert cold["gamma"] == pytest.approx(2.321, abs=5e-3)
    assert cold["time_unit_fs"] == pytest.approx(0.76, abs=0.01)  # protons


# --- the Ewald energy and the background term -----------------------------------------------

def ewald_energy(pos, L, alpha, *, background=True, kmax=12, nmax=2):
    """Direct Ewald sum (units of e^2/a, unit charges) of ions in a cube with a neutralising
    background; written here independently of OpenMM. Real space over images |n| <= nmax,
    reciprocal space over |k_i| <= kmax (2 pi / L)."""
    n = len(pos)
    d = pos[:, None, :] - pos[None, :, :]
    e_real = 0.0
    for shift in product(range(-nmax, nmax + 1), repeat=3):
        r = np.linalg.norm(d + L * np.asarray(shift), axis=-1)
        if shift == (0, 0, 0):
            r = r[~np.eye(n, dtype=bool)]
        e_real += 0.5 * np.sum(erfc(alpha * r) / r)
    m = np.arange(-kmax, kmax + 1)
    k = 2 * np.pi / L * np.stack(np.meshgrid(m, m, m, indexing="ij"), -1).reshape(-1, 3)
    k = k[np.any(k != 0, axis=1)]
    k2 = np.sum(k * k, axis=1)
    s = np.exp(1j * pos @ k.T).sum(axis=0)
    e_recip = 2 * np.pi / L ** 3 * np.sum(np.exp(-k2 / (4 * alpha ** 2)) / k2 * np.abs(s) ** 2)
    e_self = -alpha / math.sqrt(math.pi) * n
    e_bg = -math.pi * n ** 2 / (2 * L ** 3 * alpha ** 2) if background else 0.0
    return e_real + e_recip + e_self + e_bg


def _ocp_energy(ocp, pos):
    ocp.set_positions(pos)
    return ocp.energies()[1] * ocp.n * ocp.kT  # e^2/a


def test_background_term_makes_ewald_independent_of_alpha():
    rng = np.random.default_rng(0)
    L = box_length(20)
    pos = rng.uniform(0, L, (20, 3))
    a1, a2 = 5.0 / L, 8.0 / L
    with_bg = [ewald_energy(pos, L, a) for a in (a1, a2)]
    without = [ewald_energy(pos, L, a, background=False) for a in (a1, a2)]
    assert with_bg[0] == pytest.approx(with_bg[1], rel=1e-9)  # converged sums: round-off only
    # without it the energy moves with alpha by exactly the difference of the terms
    bg = [plasma_energy(20.0, L ** 3, a) / coulomb_constant() for a in (a1, a2)]
    assert without[0] - without[1] == pytest.approx(bg[1] - bg[0], rel=1e-9)


def test_ocp_energy_matches_direct_ewald_sum():
    """OpenMM's PME + :func:`energy_offset` against the direct sum above, 20 random ions."""
    n = 20
    rng = np.random.default_rng(1)
    ocp = OCP(n, 1.0, dt=0.01, cutoff=1.2, ewald_tolerance=1e-6, threads=1)
    L = box_length(n)
    pos = rng.uniform(0, L, (n, 3))
    ref = ewald_energy(pos, L, 6.0 / L)
    # PME at ewaldErrorTolerance 1e-6: energies to ~1e-5 of the energy scale n e^2/a
    assert _ocp_energy(ocp, pos) == pytest.approx(ref, abs=1e-5 * n)


def test_bcc_lattice_gives_madelung_energy():
    """A bcc lattice of 2 * 4^3 ions: U / N = -0.895929 e^2/a (Baiko et al. 2001), for two cutoffs."""
    k = 4
    n = 2 * k ** 3
    L = box_length(n)
    cell = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = np.concatenate([cell, cell + 0.5]) * (L / k)
    for cutoff in (2.5, 3.9):
        ocp = OCP(n, 1.0, dt=0.01, cutoff=cutoff, ewald_tolerance=1e-6, threads=1)
        # tolerance: PME at ewaldErrorTolerance 1e-6 (measured error ~1e-7 per ion)
        assert _ocp_energy(ocp, pos) / n == pytest.approx(BCC_MADELUNG, abs=1e-5)


def test_one_ion_gives_wigner_constant():
    """One ion in a cube with its background: E = xi / (2 L), xi = -2.837297479 (simple cubic)."""
    ocp = OCP(1, 1.0, dt=0.01, cutoff=0.7, ewald_tolerance=1e-6, threads=1)
    assert _ocp_energy(ocp, np.array([[0.3, 0.2, 0.1]])) == pytest.approx(
        -2.837297479 / (2 * box_length(1)), rel=1e-5)


def test_energy_offset_adds_the_term_only_when_openmm_lacks_it(monkeypatch):
    import collop.sim.md.system as system

    ocp = OCP(8, 1.0, dt=0.01, cutoff=0.9, ewald_tolerance=1e-5, threads=1)
    alpha = ocp.pme_parameters()[0]
    assert openmm_adds_plasma_energy() is True  # OpenMM 8.6 has it (openmm/openmm#4907)
    assert energy_offset(ocp.context, 8) == 0.0
    monkeypatch.setattr(system, "openmm_adds_plasma_energy", lambda: False)
    assert energy_offset(ocp.context, 8) == pytest.approx(
        -math.pi * coulomb_constant() * 64 / (2 * box_length(8) ** 3 * alpha ** 2))


# --- thermodynamics and dynamics ------------------------------------------------------------

def test_nve_is_velocity_verlet():
    """OCP's leap-frog NVE with synchronised velocities reproduces a velocity-Verlet
    CustomIntegrator started from the same state (both on the CPU platform, float forces)."""
    import openmm as mm
    from openmm import unit

    from collop.sim.md.engine import velocity_verlet

    ocp = OCP(64, 0.232, dt=0.01, cutoff=2.0, ewald_tolerance=1e-5, seed=2, threads=1)
    ocp.thermostat(50)
    v0 = sample("double_well", 64, np.random.default_rng(0))
    x0 = ocp.positions()
    ref = mm.Context(ocp.system, velocity_verlet(0.01), mm.Platform.getPlatformByName("CPU"),
                     {"Threads": "1"})
    ref.setPositions(x0)
    ref.setVelocities(v0 * ocp.v_th)
    ocp.begin_nve(v0)
    np.testing.assert_allclose(ocp.snapshot()[0], v0, atol=1e-12)
    ocp.nve(100)
    ref.getIntegrator().step(100)
    st = ref.getState(getPositions=True, getVelocities=True)
    v_ref = st.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond) / ocp.v_th
    # the same map: after 100 steps (velocities changed by up to 0.9 v_th) they differ by
    # round-off (measured 7e-8; the CPU platform's forces are single precision)
    np.testing.assert_allclose(ocp.snapshot()[0], v_ref, atol=1e-6)
    np.testing.assert_allclose(ocp.positions(), st.getPositions(asNumpy=True).value_in_unit(
        unit.nanometer), atol=1e-6)


def test_excess_energy_matches_ocp_equation_of_state():
    """<U>/(N k_B T) at Gamma = 2 (N = 250, Langevin) within 3% of Potekhin & Chabrier (2000)."""
    gamma = 2.0
    ocp = OCP(250, gamma, dt=0.02, cutoff=4.0, ewald_tolerance=3e-4, seed=3, threads=1)
    ocp.thermostat(250)  # 5 / omega_p from the lattice
    u = []
    for _ in range(80):  # 40 / omega_p, a sample every 0.5 / omega_p
        ocp.thermostat(25)
        u.append(ocp.energies()[1])
    u = np.asarray(u)
    ref = excess_energy_pc2000(gamma)
    assert ref == pytest.approx(-1.3208, abs=1e-4)
    assert excess_energy_caillol(gamma) == pytest.approx(ref, rel=1e-3)
    # 3% is the bound; statistical error here ~0.4% (std / sqrt(80), correlated samples)
    assert np.mean(u) == pytest.approx(ref, rel=0.03)


@pytest.fixture(scope="module")
def weak_run():
    """The gamma0p23 preset (dt, PME, 30 / omega_p of NVE) at N = 250, one uniform run."""
    cfg = preset("gamma0p23", n=250, runs=(RunSpec("uniform", "uniform"),), dt_dump=1.5,
                 t_equilibration=5.0)
    return simulate(cfg, seed=0, threads=1, measure_pme_error=False)


@pytest.fixture(scope="module")
def moderate_run():
    """The gamma2p3 preset's dt and PME at N = 1000, uniform and bi-Maxwellian, 10 / omega_p."""
    cfg = preset("gamma2p3", n=1000, t_production=10.0, dt_dump=1.0, t_equilibration=5.0,
                 runs=(RunSpec("uniform", "uniform"), RunSpec("bimaxwellian", "bimaxwellian")))
    return simulate(cfg, seed=1, threads=1, measure_pme_error=False)


def test_nve_energy_drift(weak_run, moderate_run):
    """max |E(t) - E(0)| / K(0) <= 1e-3 over the production runs (dt = 0.01 / omega_p;
    30 / omega_p at Gamma = 0.232, 10 / omega_p at 2.321). Measured: ~3e-5 and ~6e-6."""
    for ds in (weak_run, moderate_run):
        drift = energy_drift(ds["kinetic_energy"].values, ds["potential_energy"].values)
        assert np.all(drift <= 1e-3), drift
    assert float(weak_run["time"][-1]) == 30.0 and weak_run.attrs["dt"] == 0.01


def test_velocities_relax_to_the_maxwellian(moderate_run):
    """The L1 distance of the marginals to the Maxwellian at the set T falls to its sampling floor."""
    mean, sd = maxwellian_distance_floor(1000)
    for run in ("uniform", "bimaxwellian"):
        v = moderate_run["v"].sel(run=run).values
        d = np.array([maxwellian_distance(x) for x in v])
        assert d[0] > mean + 10 * sd  # starts far from equilibrium (0.33 for both)
        assert d[-1] < 0.4 * d[0]
        # end (mean of the last three frames): the floor of 1000 Maxwellian samples plus 4 of its
        # standard deviations, plus 0.02 for the NVE kinetic temperature, which fluctuates by
        # ~3% at N = 1000 (the L1 distance of N(0,1) to N(0,1.03) is ~0.015)
        assert d[-3:].mean() < mean + 4 * sd + 0.02, (run, d)
        # the kinetic temperature stays at the set T: NVE exchanges only ~1% of K with U here
        assert temperatures(v[-1]).mean() == pytest.approx(1.0, abs=0.05)
    t = temperatures(moderate_run["v"].sel(run="bimaxwellian").values)
    ratio = t[:, 0] / t[:, 1:].mean(axis=1)
    assert ratio[0] == pytest.approx(4.0, rel=0.1) and ratio[-1] < 1.3  # e-folding ~2.5 / omega_p


# --- distributions -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_samples_have_zero_mean_and_the_set_temperature(name):
    v = sample(name, 4000, np.random.default_rng(0))
    assert v.shape == (4000, 3)
    np.testing.assert_allclose(v.mean(axis=0), 0.0, atol=1e-12)
    assert np.mean(np.sum(v * v, axis=1)) == pytest.approx(3.0, rel=1e-12)
    again = sample(name, 4000, np.random.default_rng(0))
    np.testing.assert_array_equal(v, again)


def test_distribution_shapes():
    rng = np.random.default_rng(5)
    n = 200_000
    u = sample("uniform", n, rng)
    assert np.abs(u).max() <= math.sqrt(3) * 1.01  # C1a support, rescaled by < 1%
    b = sample("bimaxwellian", n, rng)
    t = temperatures(b)
    assert t[0] / t[1:].mean() == pytest.approx(4.0, rel=0.02)  # T_par / T_perp (sampling: 0.5%)
    w = sample("double_well", n, rng)
    assert np.mean(w[:, 0] > 0) == pytest.approx(0.5, abs=0.005)
    assert stats.kurtosis(w[:, 0], fisher=False) < 2.0  # bimodal (one Gaussian: 3)
    tri = sample("trimodal", n, rng)
    theta = np.mod(np.arctan2(tri[:, 1], tri[:, 0]), 2 * np.pi)
    hist, _ = np.histogram(theta, bins=12, range=(-np.pi / 12, 2 * np.pi - np.pi / 12))
    assert set(np.argsort(hist)[-3:]) == {0, 4, 8}  # peaks at 0, 2 pi / 3, 4 pi / 3
    assert stats.kurtosis(tri[:, 2], fisher=False) == pytest.approx(3.0, abs=0.05)  # Maxwellian v3
    c = sample("chi2", n, rng)
    s2 = np.sum(c * c, axis=1) / 0.6  # |v|^2 / sigma^2 ~ chi-squared(5)
    assert stats.kstest(s2, "chi2", args=(5,)).pvalue > 1e-3
    r = sample("radial_oscillation", n, rng)
    v0 = math.sqrt(np.mean(np.sum(r * r, axis=1)) / 3)  # unit of the rescaling
    w2 = np.sum(r * r, axis=1)
    # cos^2(w^2) vanishes at w^2 = pi/2: few samples near it, many near w^2 = pi
    w2 = w2 / (w2.mean() / _radial_mean_w2(0.5))
    near_zero = np.mean(np.abs(w2 - np.pi / 2) < 0.1)
    near_peak = np.mean(np.abs(w2 - np.pi) < 0.1)
    assert near_zero < 0.1 * near_peak and v0 > 0
    k = sample("bkw", n, rng, K0=0.6)  # at K = 3/5 the BKW density is the C2b one
    assert stats.ks_2samp(np.linalg.norm(k, axis=1), np.linalg.norm(c, axis=1)).pvalue > 1e-3


def _radial_mean_w2(alpha):
    """E[w^2] of the density w^2 exp(-alpha w^2) cos^2(w^2) dw (quadrature)."""
    w = np.linspace(0, 12, 200_001)
    f = w ** 2 * np.exp(-alpha * w ** 2) * np.cos(w ** 2) ** 2
    return float(np.sum(f * w ** 2) / np.sum(f))


def test_bad_distribution_parameters():
    with pytest.raises(MDError, match="unknown velocity distribution 'gauss'"):
        sample("gauss", 10, np.random.default_rng(0))
    with pytest.raises(MDError, match="unknown parameter.*'bimaxwellian'"):
        sample("bimaxwellian", 10, np.random.default_rng(0), sigma=2)
    with pytest.raises(MDError, match="K0 must lie"):
        sample("bkw", 10, np.random.default_rng(0), K0=0.5)
    with pytest.raises(MDError, match="3 numbers"):
        sample("bimaxwellian", 10, np.random.default_rng(0), temperatures=[1, 2])


# --- the file ------------------------------------------------------------------------------------

def _small(**kw):
    base = dict(n=64, runs=(RunSpec("uniform", "uniform"), RunSpec("bkw", "bkw", split="test")),
                t_production=0.4, dt_dump=0.2, t_equilibration=0.5, t_decorrelation=0.2, cutoff=2.0)
    base.update(kw)
    return preset("tiny", **base)


def test_generate_writes_a_valid_particles_file(tmp_path):
    out = tmp_path / "md.nc"
    events = []
    ds = generate(_small(), out, seed=7, threads=1, progress=events.append)
    back = open_dataset(out, "particles")
    assert back["v"].dims == ("run", "time", "particle", "component")
    assert back["v"].dtype == np.float32
    assert list(back["run"].values) == ["uniform", "bkw"]
    assert list(back["split"].values) == ["train", "test"]
    np.testing.assert_allclose(back["time"].values, [0.0, 0.2, 0.4])
    np.testing.assert_array_equal(back["particle"].values, np.arange(64))
    a = back.attrs
    for key in ("gamma", "n_ions", "a", "omega_p", "dt", "dt_dump", "t_equilibration",
                "ewald_error_tolerance", "pme_alpha", "pme_grid", "pme_force_error_rms", "seed",
                "velocity_units", "time_units", "source"):
        assert key in a, key
    assert a["seed"] == 7 and a["gamma"] == 2.321 and a["time_units"] == "1/omega_p"
    params = json.loads(a["distribution_params"])
    assert params["bkw"]["params"] == {"K0": 0.7} and params["uniform"]["label"] == "C1a"
    assert MDConfig.from_json(a["md_config"]) == _small()
    # t = 0 of each run: zero mean, kinetic temperature T (float32 and 14-bit rounding: 1e-4)
    v0 = back["v"].isel(time=0).values.astype(float)
    np.testing.assert_allclose(v0.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.mean(np.sum(v0 ** 2, axis=2), axis=1), 3.0, rtol=1e-4)
    xr.testing.assert_allclose(back["v"], ds["v"])
    assert events[-1]["steps_done"] == events[-1]["steps_total"] == _small().total_steps


def test_same_seed_same_file_other_seed_differs():
    cfg = _small(runs=(RunSpec("uniform", "uniform"),))
    a = simulate(cfg, seed=3, threads=1, measure_pme_error=False)
    b = simulate(cfg, seed=3, threads=1, measure_pme_error=False)
    c = simulate(cfg, seed=4, threads=1, measure_pme_error=False)
    np.testing.assert_array_equal(a["v"].values, b["v"].values)
    assert not np.array_equal(a["v"].values, c["v"].values)


def test_generate_checks_everything_before_computing(tmp_path, monkeypatch):
    import collop.sim.md.run as run

    def boom(*a, **k):
        raise AssertionError("computed before checking")

    monkeypatch.setattr(run, "simulate", boom)
    cases = [
        (dict(config="nope"), "unknown MD preset 'nope'"),
        (dict(out=tmp_path / "missing" / "md.nc"), "does not exist"),
        (dict(out=tmp_path), "is a directory"),
        (dict(seed=-1), "seed must be a non-negative integer"),
        (dict(threads=0), "threads must be a positive integer"),
    ]
    for kw, words in cases:
        args = dict(config="tiny", out=tmp_path / "md.nc", seed=0)
        args.update(kw)
        with pytest.raises(MDError, match=words):
            generate(args.pop("config"), args.pop("out"), **args)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change, words", [
    (dict(dt_dump=0.015), "whole number of time steps"),
    (dict(t_production=0.3), "whole number of dumps"),
    (dict(cutoff=9.0), "below half the box side"),
    (dict(n=4), "integer >= 8"),
    (dict(gamma=-1.0), "gamma must be a positive number"),
    (dict(keep_bits=30), "keep_bits"),
    (dict(runs=(RunSpec("a", "uniform"), RunSpec("a", "chi2"))), "repeated run name"),
    (dict(runs=(RunSpec("a,b", "uniform"),)), "run name 'a,b'"),
    (dict(runs=(RunSpec("a", "gauss"),)), "run 'a': unknown velocity distribution"),
    (dict(runs=(RunSpec("a", "chi2", {"sigma2": -1.0}),)), "sigma2 must be positive"),
    (dict(bogus=1), "unknown MD parameter"),
])
def test_bad_configurations(change, words):
    with pytest.raises(MDError, match=words):
        _small(**change)


def test_nothing_left_when_writing_fails(tmp_path, monkeypatch):
    out = tmp_path / "md.nc"

    def fail(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", fail)
    with pytest.raises(OSError):
        generate(_small(runs=(RunSpec("u", "uniform"),)), out, seed=0, threads=1)
    assert list(tmp_path.iterdir()) == []


def test_round_mantissa():
    x = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    y = round_mantissa(x, 14)
    assert np.all(np.abs(y - x) <= np.abs(x) * 2.0 ** -15)  # half a unit of the 14th bit
    assert np.all(y.view(np.uint32) & np.uint32((1 << 9) - 1) == 0)
    np.testing.assert_array_equal(round_mantissa(x, None), x)


# --- the shipped data ----------------------------------------------------------------------------

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.parametrize("name", ["gamma0p23", "gamma2p3"])
def test_shipped_md_data(name):
    """data/md_<preset>.nc: built by the preset as it stands, energy conserved, relaxed, the EOS."""
    ds = open_dataset(DATA / f"md_{name}.nc", "particles")
    cfg = preset(name)
    assert MDConfig.from_json(ds.attrs["md_config"]) == cfg  # the file is the preset's
    assert ds.sizes == {"run": 7, "time": cfg.n_frames, "particle": cfg.n, "component": 3}
    assert ds.attrs["train_runs"] == "uniform,bimaxwellian,double_well"
    assert ds.attrs["pme_force_error_rms"] < 1e-4
    drift = energy_drift(ds["kinetic_energy"].values, ds["potential_energy"].values)
    assert np.all(drift <= 1e-3), drift
    v = ds["v"].values
    v0 = v[:, 0].astype(float)
    np.testing.assert_allclose(v0.mean(axis=1), 0.0, atol=1e-4)  # 14-bit rounding of float32
    np.testing.assert_allclose(np.mean(np.sum(v0 ** 2, axis=2), axis=1), 3.0, rtol=1e-4)
    mean, sd = maxwellian_distance_floor(cfg.n)
    for r in range(7):
        d0, d1 = maxwellian_distance(v[r, 0]), maxwellian_distance(v[r, -1])
        assert d1 < d0
        assert d1 < mean + 4 * sd + 0.02, (ds["run"].values[r], d1)  # as in the relaxation test
    # the equilibrium Coulomb energy: 7 configurations of 1e4 ions, statistical error ~0.1%
    u = ds["potential_energy"].isel(time=0).values.mean()
    assert u == pytest.approx(excess_energy_pc2000(cfg.gamma), rel=0.03)


# --- schema: the run dimension -----------------------------------------------------------------

def _runs_ds(run_values):
    v = np.zeros((len(run_values), 2, 3, 3), dtype=np.float32)
    return xr.Dataset({"v": (("run", "time", "particle", "component"), v)},
                      coords={"run": run_values, "time": [0.0, 1.0], "particle": [1, 2, 3],
                              "component": ["x", "y", "z"]},
                      attrs={"collop_kind": "particles", "velocity_units": "v_th",
                             "time_units": "1/omega_p", "source": "test"})


def test_schema_run_dimension():
    validate(_runs_ds(["a", "b"]), "particles")
    with pytest.raises(SchemaError, match="duplicate names"):
        validate(_runs_ds(["a", "a"]), "particles", source="x.nc")
    with pytest.raises(SchemaError, match="must hold non-empty names"):
        validate(_runs_ds([0, 1]), "particles", source="x.nc")
    with pytest.raises(SchemaError, match="missing coordinate 'run'"):
        validate(_runs_ds(["a", "b"]).drop_vars("run"), "particles", source="x.nc")
