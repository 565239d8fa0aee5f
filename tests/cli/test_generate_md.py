"""``collop generate md``: the OpenMM one-component plasma from the command line."""
from __future__ import annotations

from collop.cli import main
from collop.io import open_dataset


def test_generate_md_writes_a_particles_file_with_runs(tmp_path, capsys):
    out = tmp_path / "md.nc"
    assert main(["-q", "generate", "md", "--preset", "tiny", "--t-production", "0.5", "--out", str(out),
                 "--seed", "2"]) == 0
    ds = open_dataset(out, "particles")
    assert ds.sizes["run"] == 7 and ds.sizes["component"] == 3 and ds.sizes["particle"] == 250
    assert ds.attrs["time_units"] == "1/omega_p"
    assert int(ds.attrs["seed"]) == 2


def test_generate_md_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "md.nc"
    code = main(["generate", "md", "--preset", "tiny", "--n", "64", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("collop: error: ") and "cutoff" in err[0]
    assert not out.exists()
