"""`bandbridge adapt` and `loso --shots` end to end on real data: a bundle that predicts, a card
with the before/after table, never worse than its refitted anchor on validation, and every
refusal one line with nothing written."""

import re

import pytest
import yaml

from conftest import SAMPLE, SHARED, needs_shared

NAIP = SAMPLE / "nir_naip_opengeos"
DATE = NAIP / "m_4709963_se_14_1_20200831.tif"


@pytest.fixture(autouse=True)
def _test_sized_student(monkeypatch):
    """A tree winner's student in 800 steps (test_student.py's test size), not 3000: its
    distillation was most of an adapt here (issue 69); a student is kept only within
    policy.STUDENT_WITHIN of its teacher, so what each test checks holds either way."""
    from bandbridge.learners import student
    monkeypatch.setattr(student, "STEPS", 800)


def card_rows(card: str) -> dict[str, float]:
    """The card's out-of-fold table: label → MAE."""
    return {line.split("|")[1].strip(): float(line.split("|")[2])
            for line in card.splitlines() if line.startswith("| ") and "method" not in line}


def bold_row(card: str) -> str:
    bold = [k for k in card_rows(card) if k.startswith("**")]
    assert len(bold) == 1, card
    return bold[0]


def test_adapt_one_image_keeps_a_simple_learner_and_writes_a_bundle_predict_takes(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr("bandbridge.cli.progress.DELAY", 0.0)  # progress lines at once, on tiny inputs
    # one pair, one group: held-out blocks of it cannot show how a fit carries to other scenes,
    # so only the constant or the linear map may be kept (or the model as it was)
    out = tmp_path / "naip-adapted"
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-naip", str(DATE), "-o", str(out),
                                "--minutes", "0.5")
    assert code == 0, err
    assert {"MODEL_CARD.md", "generator.safetensors", "model.yaml"} <= {p.name for p in out.iterdir()}
    # chosen on the user's own pairs: no floor inside for files of another sensor, even in a copy
    assert not (out / "floor").exists()
    # progress on stderr (a pipe here: plain lines), the fits counted as they run (issue 48)
    assert "the model as it was, on 1 pair(s): 0/1" in err and "fitting 2 candidates on " in err, err
    assert "refitting " in err and "done in" in err, err
    card = (out / "MODEL_CARD.md").read_text()
    for row in ("zero-shot (rgb2nir-naip)", "linear map", "constant", "--within-scene",
                "so only they were fitted", "would also try the context ridge (best penalty)"):
        assert row in card, card
    # what may not be kept is not fitted (what --within-scene would try is named instead)
    labels = {k.strip("*").replace(" — kept", "") for k in card_rows(card)}
    assert labels == {"constant", "linear map", "zero-shot (rgb2nir-naip)"}, card
    rows = card_rows(card)
    kept = bold_row(card)
    assert any(k in kept for k in ("zero-shot", "linear map", "constant")), card
    # the kept row is the lowest of the rows it could be chosen from
    simple = {k: v for k, v in rows.items() if any(s in k for s in ("zero-shot", "linear map", "constant"))}
    assert rows[kept] == min(simple.values()), card
    info = yaml.safe_load((out / "model.yaml").read_text())
    if "zero-shot" not in kept:
        assert info["config"]["model"]["generator"]["name"] == "learner"
        assert info["config"]["model"]["generator"]["args"]["kind"] in ("linear", "constant")
        assert info["learner"]["kept"] in ("linear", "constant")
    pred = tmp_path / "nir.tif"
    code, _, err = run_cli("predict", str(NAIP / "m_4709963_se_14_1_20120731.tif"),
                           "--model", str(out), "-o", str(pred))
    assert code == 0 and pred.exists(), err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work folder left


def test_adapt_within_scene_on_the_top_half_beats_the_linear_map_on_the_bottom_half(run_cli, tmp_path):
    # issue 32's case: the top half of the bundled NAIP date adapts, the bottom half tests
    import numpy as np
    import rasterio
    out = tmp_path / "naip-adapted"
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-naip", str(DATE), "-o", str(out),
                                "--region", "rows:0:0.5", "--within-scene")
    assert code == 0, err
    card = (out / "MODEL_CARD.md").read_text()
    rows = card_rows(card)
    kept = bold_row(card)
    assert rows[kept] == min(rows.values()), card  # never worse than any row, zero-shot included
    info = yaml.safe_load((out / "model.yaml").read_text())
    if "zero-shot" not in kept:  # a learner: refitted on every pixel of the top half
        assert info["config"]["model"]["generator"]["name"] in ("learner", "blend")
        assert info["learner"]["pixels"] == info["learner"]["valid_pixels"] == 128 * 256
    pred = tmp_path / "nir.tif"
    code, _, err = run_cli("predict", str(DATE), "--model", str(out), "-o", str(pred))
    assert code == 0, err
    with rasterio.open(DATE) as src:
        a = src.read().astype(np.float64)
    with rasterio.open(pred) as src:
        p = src.read(src.count).astype(np.float64)
    top = a[:, :128].reshape(4, -1)
    A = np.c_[top[:3].T, np.ones(top.shape[1])]
    coef = np.linalg.lstsq(A, top[3], rcond=None)[0]
    bottom = a[:, 128:].reshape(4, -1)
    linear = np.abs(np.clip(np.c_[bottom[:3].T, np.ones(bottom.shape[1])] @ coef, 0, 255) - bottom[3]).mean()
    got = np.abs(p[128:].ravel() - bottom[3]).mean()
    print(f"bottom half: adapted ({kept}) {got:.1f} DN vs linear map fitted on the top half "
          f"{linear:.1f} DN")
    # never worse than the linear map fitted on the same pixels, on pixels that chose nothing
    # (issue 32 asks 15 % better: met with the bundle before issue 32, 26.2 vs 82.1 DN; missed with
    # today's rgb2nir-naip, whose out-of-fold win on the top half keeps it — README, adapt)
    assert got <= linear


@pytest.mark.parametrize("args,message", [
    (["missing.tif"], "missing.tif: not a file"),
    ([str(DATE) + ":" + "nope.tif"], "nope.tif not found"),
    ([str(DATE), "--region", "rows:0.5:0.2"], "--region rows:0.5:0.2"),
    ([str(DATE), "--region", "diag:0:1"], "--region diag:0:1"),
    ([str(DATE), "--minutes", "0"], "--minutes 0"),
    ([str(DATE), "-m", "sr-x2"], "adapt re-calibrates a translation model"),
    ([str(DATE), "--bands", "red,green,purple"], "purple"),
])
def test_adapt_refusals_are_one_line_and_write_nothing(run_cli, tmp_path, args, message):
    out = tmp_path / "adapted"
    model = [] if "-m" in args else ["-m", "rgb2nir-naip"]
    minutes = [] if "--minutes" in args else ["--minutes", "0.1"]
    code, stdout, err = run_cli("adapt", *model, *args, "-o", str(out), *minutes)
    assert code == 2, (stdout, err)
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_adapt_reads_a_models_bands_by_role_from_plain_descriptions(run_cli, tmp_path):
    """rgb2nir-s2 knows its bands as B04, B03, B02 → B08; a GeoTIFF described 'red, green, blue,
    nir' (reflectance × 10000) adapts it without --bands or --target-bands."""
    import numpy as np
    import rasterio
    with rasterio.open(DATE) as d:
        a, prof = d.read(window=((0, 192), (0, 192))), d.profile
    prof.update(height=192, width=192, dtype="uint16", nodata=0)
    prof.pop("photometric", None)
    f = tmp_path / "rgbn.tif"
    with rasterio.open(f, "w", **prof) as d:
        d.write(a.astype(np.uint16) * 20 + 50)
        d.descriptions = ("red", "green", "blue", "nir")
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-s2", str(f), "-o", str(tmp_path / "out"),
                                "--minutes", "0.1")
    assert code == 0, err
    assert (tmp_path / "out" / "model.yaml").exists()


def test_adapt_keeps_an_existing_output_without_overwrite(run_cli, tmp_path):
    out = tmp_path / "adapted"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", str(DATE), "-o", str(out))
    assert code == 2 and "--overwrite" in err
    assert (out / "keep.txt").read_text() == "mine"


@needs_shared
def test_loso_shots_scores_adapted_against_every_bar(run_cli, tmp_path):
    code, stdout, err = run_cli("loso", "--shots", "1", "-m", "rgb2nir-s2", "--recipes",
                                "s2_eolearn", "--data", str(SHARED), "--minutes", "0.05",
                                "-o", str(tmp_path / "shots"))
    assert code == 0, err
    table = (tmp_path / "shots" / "shots.md").read_text()
    head = table.splitlines()[2]
    for col in ("zero-shot", "linear", "ridge-context", "mean", "scratch", "model",
                "adapted vs linear"):
        assert col in head
    assert "s2_eolearn (seen in training) | 1 image(s) adapt" in table


def test_adapt_and_a_calibration_print_no_library_lines_and_name_what_they_made(capfd, monkeypatch, tmp_path):
    """Captured at the file descriptors (what a terminal shows): adapt and the web page's
    calibration print their own words only — no Lightning/PyTorch line, no warning, no work
    folder or --resume hint — and the bundle is named `<model>-adapted-<hash>`."""
    from bandbridge import cli
    from bandbridge.demo.calibrate import calibrate
    from bandbridge.spec import read_spec, zoo_models
    from bandbridge.workflows.runner import RUN_DIR_ENV
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    monkeypatch.setattr("sys.argv", ["bandbridge", "adapt", "-m", "rgb2nir-naip", str(DATE), "-o",
                                     str(tmp_path / "a"), "--minutes", "0.1", "--within-scene"])
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code in (0, None)
    folder = zoo_models()["rgb2nir-naip"]
    (tmp_path / "web").mkdir()
    cal = calibrate(folder, read_spec(folder), NAIP / "m_4709963_se_14_1_20120731.tif", None,
                    tmp_path / "web", minutes=0.1)
    assert read_spec(cal.folder).name.startswith("rgb2nir-naip-adapted-")  # what the page names
    shown = capfd.readouterr()
    for line in (shown.out + shown.err).splitlines():
        assert not re.search(r"lightning|torch|Warning|warn\(|Epoch|run folder|--resume|\.partial", line), line
    name = yaml.safe_load((tmp_path / "a" / "model.yaml").read_text())["config"]["name"]
    assert re.fullmatch(r"rgb2nir-naip-adapted-[0-9a-f]{8}", name), name
    assert f"# {name}" in (tmp_path / "a" / "MODEL_CARD.md").read_text()


def test_the_cards_command_is_the_one_that_ran():
    """Every reading flag given reaches the card's command (issue 47: it dropped --scaling)."""
    from bandbridge.workflows.adapt import read_flags
    flags = read_flags({"input": {"bands": ["red", "green", "blue"], "band_names": None,
                                  "scaling": "reflectance_1000", "sensor": "s2_l2a"},
                        "target": {"bands": [3], "scaling": "reflectance_1000", "sensor": "s2_l2a"}})
    assert " ".join(flags) == ("--bands red,green,blue --target-bands 3 --scaling reflectance_1000 "
                               "--sensor s2_l2a")
    assert read_flags(None) == [] and read_flags({"input": {}, "target": {}}) == []


WALES = SHARED / "nir_s2_rsgislib_wales_tanzania" / "wales_aberystwyth_20210527_10m.tif"


def _rows(src, dst, rows: slice, bands=None):
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(src) as f:
        win = Window(0, rows.start, f.width, rows.stop - rows.start)
        prof = f.profile | {"height": win.height, "transform": f.window_transform(win)}
        idx = bands or list(range(1, f.count + 1))
        prof["count"] = len(idx)
        data = f.read(idx, window=win)
        with rasterio.open(dst, "w", **prof) as o:
            o.write(data)
            o.descriptions = tuple(f.descriptions[i - 1] for i in idx)
    return dst


@needs_shared
def test_an_adapted_model_reads_files_as_its_pairs_were_read(run_cli, tmp_path):
    """Issue 47's Wales round trip: adapt on the top half with --scaling reflectance_1000 (ARCSI),
    predict the bottom half without the flag: within 2 % of predicting with it; the bundle records
    the scaling and the values its pairs held; adapt without flags prints predict's CHECK line."""
    import numpy as np
    import rasterio
    top = _rows(WALES, tmp_path / "top.tif", slice(0, 473))
    bottom = _rows(WALES, tmp_path / "bottom.tif", slice(473, 947), [1, 2, 3])
    with rasterio.open(WALES) as f:
        nir = f.read(4)[473:].astype(np.float64) / 1000
    out = tmp_path / "wales"
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-s2", str(top), "--scaling", "reflectance_1000",
                                "--within-scene", "-o", str(out), "--minutes", "0.2")
    assert code == 0, err
    info = yaml.safe_load((out / "model.yaml").read_text())
    seen = info.get("inputs_seen")
    if info["config"]["model"]["generator"]["name"] == "learner":  # a fitted learner: its own record
        assert seen["scalings"] == ["reflectance_1000"] and seen["dtypes"] == ["uint16"], seen
        assert info["config"]["data"]["sources"][0]["input"]["scaling"] == "reflectance_1000"
    maes = []
    for extra in ([], ["--scaling", "reflectance_1000"]):
        pred = tmp_path / f"nir{len(extra)}.tif"
        code, _, err = run_cli("predict", str(bottom), "-m", str(out), "-o", str(pred), *extra)
        assert code == 0, err
        with rasterio.open(pred) as p:
            y = p.read(1).astype(np.float64) * (p.scales[0] or 1) + (p.offsets[0] or 0)
        ok = nir > 0
        maes.append(float(np.abs(y[ok] - nir[ok]).mean()))
    assert maes[0] <= 1.02 * maes[1], maes
    assert maes[1] < 0.06, maes  # a real NIR, not the flat one of ×10000 (0.130)
    # no flags on the same file: refused as predict refuses it, before any fit (issue 69)
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-s2", str(top), "-o", str(tmp_path / "w2"),
                                "--minutes", "0.1")
    flat = " ".join((stdout + err).split())
    assert code == 2 and "top.tif" in flat and "pass --scaling reflectance_1000" in flat, flat
    assert not (tmp_path / "w2").exists()


def test_adapt_refuses_a_constant_pair_before_any_fit(run_cli, tmp_path):
    """A pair whose input is one value everywhere is refused as predict refuses it (the typed
    band error no longer swallows it), nothing written."""
    import numpy as np
    import rasterio
    from affine import Affine
    f = tmp_path / "const.tif"
    with rasterio.open(f, "w", driver="GTiff", width=64, height=64, count=4, dtype="uint8",
                       crs="EPSG:32614", transform=Affine(1, 0, 500000, 0, -1, 5200000)) as d:
        d.write(np.full((4, 64, 64), 7, np.uint8))
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", str(f), "-o", str(tmp_path / "out"), "--minutes", "0.1")
    assert code == 2 and "every pixel holds the same value" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["const.tif"]


def test_a_target_file_of_another_type_is_read_as_what_it_holds(run_cli, tmp_path):
    """uint8 RGB with a uint16 NIR (the 8-bit NIR × 257) for an 8-bit model: read as uint8 it
    saturated to one value and every fit scored 0 (issue 58); read as 16-bit, with a CHECK, the
    kept row is the real error, the same in 8-bit DN as for the 8-bit band itself."""
    import numpy as np
    import rasterio
    with rasterio.open(DATE) as s:
        a, prof = s.read(), s.profile
    prof.update(count=3)
    with rasterio.open(tmp_path / "rgb8.tif", "w", **prof) as o:
        o.write(a[:3])
    prof.update(count=1, dtype="uint16")
    with rasterio.open(tmp_path / "nir16.tif", "w", **prof) as o:
        o.write(a[3:4].astype(np.uint16) * 257)
    out = tmp_path / "m"
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-naip", f"{tmp_path / 'rgb8.tif'}:{tmp_path / 'nir16.tif'}",
                                "-o", str(out))
    assert code == 0, err
    assert "CHECK" in stdout + err and "nir16.tif is uint16" in stdout + err and "read as uint16" in stdout + err
    rows = card_rows((out / "MODEL_CARD.md").read_text())
    assert all(v > 255 for v in rows.values()), rows  # 16-bit DN, none saturated to 0
    code, _, err = run_cli("adapt", "-m", "rgb2nir-naip", str(DATE), "-o", str(tmp_path / "m8"))
    eight = card_rows((tmp_path / "m8" / "MODEL_CARD.md").read_text())
    assert code == 0, err
    lin = [next(v for k, v in r.items() if "linear map" in k) for r in (rows, eight)]
    assert abs(lin[0] / 257 - lin[1]) < 0.02 * lin[1], (rows, eight)


@pytest.mark.parametrize("size", [16, 32, 48])
def test_an_image_too_small_for_spatial_folds_is_one_line_and_writes_nothing(run_cli, tmp_path, size):
    """16², 32² and 48² pairs ended in a ValueError traceback from the folds (issue 58): refused
    in one line that says how large an image must be."""
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(DATE) as s:
        prof, win = s.profile, Window(0, 0, size, size)
        prof.update(height=size, width=size, transform=s.window_transform(win))
        small = tmp_path / f"small{size}.tif"
        with rasterio.open(small, "w", **prof) as o:
            o.write(s.read(window=win))
    code, stdout, err = run_cli("adapt", "-m", "rgb2nir-naip", str(small), "-o", str(tmp_path / "adapted"))
    assert code == 2, (stdout, err)
    last = err.strip().splitlines()[-1]
    assert "too small to hold any out" in last and "longer side above 61 px" in last, err
    assert "Traceback" not in err and [p.name for p in tmp_path.iterdir()] == [small.name]


def test_the_card_says_one_thing_when_the_model_as_it_was_is_kept():
    """The newcomer's card of issue 77 said "Kept: zero-shot" and "`mlp-context` ... is kept" at
    once: a trade among the learners is said as what was kept only where a learner is kept."""
    from bandbridge.workflows.adapt import adapt_card
    traded = {"best": "gbm-context", "best_oof_mae": 41.34, "kept": "mlp-context", "kept_oof_mae": 43.0,
              "fold_difference": 1.0, "standard_error": 2.0, "rule": "the one-standard-error rule"}
    summary = {"methods": {"linear": {"mae": 49.0}, "gbm-context": {"mae": 41.34}, "mlp-context": {"mae": 43.0},
                           "zero-shot": {"mae": 41.26}},
               "kept": "zero-shot", "chosen": "mlp-context", "model": "rgb2nir-naip", "target_units": "DN",
               "pixels": 100, "valid_pixels": 100, "worse_than_zero_shot": False, "folds": ["rows 0–25 %"] * 4,
               "images": 1, "groups": 1, "note": None, "skipped": [], "traded": traded}
    card = adapt_card("bandbridge adapt …", "x", summary)
    assert "- Kept: the zero-shot model (rgb2nir-naip as it was)." in card.splitlines(), card
    assert "is kept over" not in card and "No learner is kept" in card, card
    assert bold_row(card).startswith("**zero-shot"), card
    # a learner kept: the trade is what was kept, said so
    learner = adapt_card("bandbridge adapt …", "x", {**summary, "kept": "mlp-context",
                                                       "methods": {**summary["methods"], "zero-shot": {"mae": 45.0}}})
    assert "`mlp-context` (43 DN) is kept over the lowest out-of-fold MAE, `gbm-context` (41.34)" in learner, learner
