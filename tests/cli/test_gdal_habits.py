"""What a GDAL/rasterio user expects of a command-line tool: --version, help that names its
value types plainly, -co creation options, tags that say which model made a file (and nothing
about the user's folders), kept through --workers and --cog, and install docs that match."""

from __future__ import annotations

import re

import pytest
import rasterio

from conftest import REPO, SAMPLE

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
FIXED = ["--backend", "torch", "--precision", "fp32"]
COMMANDS = ["presets", "models", "train", "adapt", "evaluate", "loso", "report", "predict", "compare",
            "demo", "timeseries", "export", "bench", "cache"]


def test_version(run_cli):
    from bandbridge import __version__
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith(f"bandbridge {__version__} (rasterio ") and "GDAL" in out


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_names_types_plainly_and_every_option_says_what_it_is(run_cli, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run_cli(*([command] if command else []), "--help")
    assert code == 0
    assert not re.search(r"<(bool|str|int|float|list)", out), out
    if command == "predict":
        assert re.search(r"--threads\s+INTEGER\s+CPU threads", out)
        assert re.search(r"-co\s+NAME=VALUE\s+GDAL creation option", out)
        assert re.search(r"--append\s+write the input bands", out)  # a flag shows no type


def _tags(path):
    with rasterio.open(path) as f:
        return f.tags(), f.profile, f.descriptions


def test_creation_options_reach_gdal_and_the_model_tag_holds_no_path(run_cli, tmp_path):
    out = tmp_path / "nir.tif"
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(out), "--index", "ndvi",
                           "-co", "COMPRESS=ZSTD", "-co", "blockxsize=128", "--co", "BLOCKYSIZE=128", *FIXED)
    assert code == 0, err
    for p in (out, tmp_path / "nir_ndvi.tif"):
        tags, prof, _ = _tags(p)
        assert prof["compress"] == "zstd" and (prof["blockxsize"], prof["blockysize"]) == (128, 128)
    sha = __import__("yaml").safe_load((REPO / "src/bandbridge/zoo/rgb2nir-naip/model.yaml").read_text())["weights_sha256"]
    from bandbridge import __version__
    assert tags["bandbridge_model"] == f"rgb2nir-naip (bandbridge {__version__}; weights sha256:{sha})"
    assert tags["bandbridge_source"] == NAIP.name
    assert not any(str(tmp_path) in v or str(REPO) in v or "/" in v for v in tags.values()), tags
    # With --cog the options go to GDAL's COG driver, and the tags survive the copy.
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "c.tif"), "--cog",
                           "-co", "COMPRESS=LZW", "-co", "BLOCKSIZE=128", *FIXED)
    assert code == 0, err
    tags, prof, names = _tags(tmp_path / "c.tif")
    assert prof["compress"] == "lzw" and prof["blockxsize"] == 128 and "bandbridge_model" in tags
    assert names == ("synthetic_nir",)


@pytest.mark.parametrize("co,says", [(["COMPRESS"], "KEY=VALUE"),
                                     (["FOO=1"], "does not support creation option FOO"),
                                     (["COMPRESS=BOGUS"], "COMPRESS"),
                                     (["TILED=YES", "--cog"], "COG driver refuses")])
def test_creation_options_gdal_refuses_are_one_line_before_any_work(run_cli, tmp_path, co, says):
    args = [a for c in co for a in ((c,) if c.startswith("--") else ("-co", c))]
    code, out, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o" / "n.tif"),
                             *args, *FIXED)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and says in lines[0] and "-co" in lines[0], err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_workers_with_cog_keep_the_tags_and_a_rerun_skips_its_own_outputs(run_cli, tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed not installed (pip install 'bandbridge[dist]')")
    folder, into = tmp_path / "scenes", tmp_path / "out"
    folder.mkdir()
    (folder / NAIP.name).write_bytes(NAIP.read_bytes())
    code, _, err = run_cli("predict", str(folder), "-m", "rgb2nir-naip", "-o", str(into), "--workers", "2",
                           "--strips", "2", "--cog", "--index", "ndvi", "-co", "COMPRESS=ZSTD", *FIXED)
    assert code == 0, err
    made = into / f"{NAIP.stem}_rgb2nir-naip.tif"
    for p in (made, made.with_name(f"{made.stem}_ndvi.tif")):
        tags, prof, _ = _tags(p)
        assert tags["bandbridge_model"].startswith("rgb2nir-naip (bandbridge ") and prof["compress"] == "zstd"
        (folder / p.name).write_bytes(p.read_bytes())  # the outputs put among the inputs (-o the folder is refused)
    # The same command again: its outputs are recognised as outputs, not taken as inputs.
    code, out, err = run_cli("predict", str(folder), "-m", "rgb2nir-naip", "-o", str(into), "--workers", "2",
                             "--cog", "--overwrite", *FIXED)
    assert code == 0, err
    assert "skipped 2 earlier output(s)" in out and "is the input file" not in err
    assert not list(into.glob("*_rgb2nir-naip_rgb2nir-naip*"))


def test_readme_install_extras_are_the_makefiles():
    """The extras the README and the install page name are the ones `make install` installs
    (`baselines` is an empty extra kept for old install lines)."""
    extras = re.search(r"^EXTRAS\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
    wanted = set(extras.split(",")) - {"baselines"}
    readme = (REPO / "README.md").read_text()
    said = re.search(r"# extras: ([a-z, ]+)", readme).group(1)
    assert {e.strip() for e in said.split(",")} == wanted, (said, extras)
    page = (REPO / "docs" / "getting-started.md").read_text()
    assert {e.strip() for e in re.search(r"# extras: ([a-z, ]+)", page).group(1).split(",")} == wanted
    assert all(f"`{e}`" in page for e in wanted), "an extra is missing from the install page's table"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_names_a_model_with_m_and_an_output_with_o(run_cli, monkeypatch, command):
    """One way to name things (issue 58): a command that takes a model takes it as -m/--model, one
    that writes a file or folder names it -o/--output; the old spellings are hidden."""
    monkeypatch.setenv("COLUMNS", "250")
    _, out, _ = run_cli(command, "--help")
    flags = set(re.findall(r"(--[a-z][a-z-]+)", out))
    assert "--out" not in flags, out
    if command in ("train", "adapt", "evaluate", "loso", "report", "predict", "compare", "export", "bench"):
        assert "--model" in flags or command == "train", out
    if command in ("adapt", "evaluate", "loso", "report", "predict", "compare", "export"):
        assert "--output" in flags and re.search(r"--output\s+-o", out), out


def test_the_old_spellings_still_work_with_a_deprecation_line(run_cli, tmp_path):
    code, _, err = run_cli("export", "rgb2nir-naip", "-o", str(tmp_path / "e"))
    assert code == 0 and "`bandbridge export MODEL` is deprecated; use `bandbridge export -m MODEL`" in err, err
    code, _, err = run_cli("export", "rgb2nir-naip", "-m", "rgb2nir-s2", "-o", str(tmp_path / "f"))
    assert code == 2 and "give -m MODEL alone" in err and not (tmp_path / "f").exists(), err
    # a route exported says which bundle it is
    code, _, err = run_cli("export", "-m", "rgb2nir", "-o", str(tmp_path / "g"))
    assert code == 0 and "rgb2nir → rgb2nir-naip" in err and "rgb2nir-s2 for reflectance" in err, err
    code, _, err = run_cli("loso", "--recipes", "a", "--out", str(tmp_path / "l"))
    assert "`bandbridge loso --out` is deprecated; use `bandbridge loso -o`" in err, err


def test_summaries_are_whole_in_presets_and_the_command_list(run_cli, monkeypatch):
    """`presets` and the command list cut summaries with "…" (issue 58): each is whole."""
    from bandbridge.cli.app import first_sentence
    from bandbridge.presets import preset_dict, preset_names
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = run_cli("presets")
    flat = " ".join(out.split())
    for name in preset_names():
        assert " ".join(preset_dict(name).get("description", "").split()) in flat, name
    import typer.main

    from bandbridge.cli import app
    for name, cmd in typer.main.get_command(app).commands.items():
        assert cmd.get_short_help_str() == first_sentence(cmd.callback.__doc__) and "..." not in cmd.get_short_help_str(), name


def test_plain_images_print_no_rasterio_warning_per_file(tmp_path):
    """A quoted glob over plain images printed rasterio's NotGeoreferencedWarning per file before
    its one-line error (issue 58); the reading line says "no georeference" itself."""
    import subprocess
    import sys

    import numpy as np
    for i in range(3):
        with rasterio.open(tmp_path / f"p{i}.png", "w", driver="PNG", height=32, width=32, count=3, dtype="uint8") as o:
            o.write(np.random.default_rng(i).integers(0, 255, (3, 32, 32), dtype=np.uint8))
    (tmp_path / "zz_notes.md").write_text("not a raster")  # after the images: they are read first
    p = subprocess.run([sys.executable, "-m", "bandbridge.cli", "predict", str(tmp_path / "*"), "-m", "rgb2nir",
                        "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert p.returncode == 2 and "zz_notes.md: cannot read this file as a raster" in p.stderr, p.stderr
    assert "Warning" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
