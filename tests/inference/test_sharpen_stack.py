"""Issue 98: a stack whose bands all lie on one 10 m grid (SNAP's, Earth Engine's, SEN12MS) sharpened as
the product it holds: ``sharpen STACK -o OUT`` finds its resampled bands (blocky or smooth) by names and
pixels, averages each back onto its own grid and sharpens it from the native bands; a band is never its
own guide; sharpen's words (duplicates, ``-m s2-prior``, the plan's one route line). A hand-made stack
with known answers, and SEN12MS-CR's scenes where present."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from conftest import SHARED, needs_shared
from test_sharpen_read import refused, sharpened

from bandbridge.data.resampled import find, stack_names

TEN = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)
N = 240
NAMES = ["B02", "B03", "B04", "B08", "B05", "B06"]


def powerlaw(rng, n: int) -> np.ndarray:
    """A field with a natural image's 1/f² power spectrum, unit variance."""
    f = np.fft.fftfreq(n)
    r = np.hypot(f[:, None], f[None, :])
    r[0, 0] = 1
    x = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, n))) / r))
    return (x - x.mean()) / x.std()


def block_mean(x: np.ndarray, k: int, o: int = 0) -> np.ndarray:
    n = (x.shape[0] - o) // k
    return x[o:o + n * k, o:o + n * k].reshape(n, k, n, k).mean((1, 3))


def hand_stack(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four native bands (mixtures of three fields), B05 the truth's 2 × 2 means repeated from row and
    column 1 (nearest-resampled, eo-learn's phase), B06 the truth's means zoomed by cubic (smooth); and
    the two truths at 10 m."""
    rng = np.random.default_rng(seed)
    z = [powerlaw(rng, N) for _ in range(3)]
    mix = np.array([[1, .3, 0], [.8, .5, .1], [.6, .7, .2], [.1, .2, 1.]])
    nat = np.array([2000 + 400 * sum(m * q for m, q in zip(row, z)) for row in mix]) + rng.normal(0, 5, (4, N, N))
    truth = np.array([2500 + 300 * z[0] + 250 * z[2], 2200 + 200 * z[1] + 350 * z[2]])
    blocky = np.pad(np.repeat(np.repeat(block_mean(truth[0], 2, 1), 2, 0), 2, 1), 1, mode="edge")[:N, :N]
    smooth = ndimage.zoom(block_mean(truth[1], 2), 2, order=3, grid_mode=True, mode="nearest")
    return np.concatenate([nat, blocky[None], smooth[None]]), truth


def write(path, values: np.ndarray, names=None, transform: Affine = TEN):
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[1], width=values.shape[2], count=len(values),
                       dtype="uint16", crs="EPSG:32617", transform=transform) as d:
        d.write(np.round(values).astype("uint16"))
        if names:
            d.descriptions = tuple(names)
    return path


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b)[4:-4, 4:-4] ** 2)))


def test_the_hand_made_stacks_bands_are_found_as_made():
    """Names and pixels: the four native bands native, B05 blocky 2 × 2 from row and column 1, B06 smooth
    at 2; and by pixels alone (no names) the same."""
    stack, _ = hand_stack()
    found = {f.name: f for f in find(stack, NAMES, 10.0)}
    assert [n for n, f in found.items() if not f.resampled] == ["B02", "B03", "B04", "B08"]
    assert (found["B05"].how, found["B05"].k, found["B05"].phase) == ("blocky", 2, (1, 1))
    assert (found["B06"].how, found["B06"].k) == ("smooth", 2)
    blind = find(stack, [f"BAND{i + 1}" for i in range(6)], None)
    assert [(f.k, f.how) for f in blind] == [(1, "native")] * 4 + [(2, "blocky"), (2, "smooth")]


def test_a_stack_alone_is_sharpened_from_its_native_bands_better_than_upsampling(tmp_path, run_cli):
    """``sharpen STACK -o OUT``: the plan names the resampled bands and why; the output holds B05 and B06,
    each far nearer its 10 m truth than the cubic upsampling of its 20 m means (and than the stack's own
    band), and B05 is not its reference repeated 2 × 2."""
    stack, truth = hand_stack()
    src = write(tmp_path / "stack.tif", stack, NAMES)
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(src))
    assert "native: B02, B03, B04, B08 (the guides)" in out
    assert "B05: resampled from a 20 m grid (blocky: constant 2×2 blocks from row 1, column 1" in out
    assert "B06: resampled from a 20 m grid (smooth: " in out
    assert said["names"] == ("B05", "B06")
    cubic = np.pad(ndimage.zoom(block_mean(truth[0], 2, 1), 2, order=3, grid_mode=True, mode="nearest"), 1,
                   mode="edge")[:N, :N]
    assert rmse(v[0], truth[0]) < 0.2 * rmse(cubic, truth[0])
    assert rmse(v[1], truth[1]) < 0.5 * rmse(stack[5], truth[1])
    inside = v[0][1:N - 1, 1:N - 1].reshape(N // 2 - 1, 2, N // 2 - 1, 2)
    assert np.mean(np.ptp(inside, axis=(1, 3))) > 10  # detail inside each 20 m cell: not the blocks repeated


def test_a_stack_given_as_fine_and_reference_is_the_stack_run(tmp_path, run_cli):
    """FINE and --reference the same stack: what ``sharpen STACK`` does (never 'use adapt')."""
    stack, _ = hand_stack()
    src = write(tmp_path / "stack.tif", stack, NAMES)
    code, out, err = run_cli("sharpen", str(src), "--reference", str(src), "-o", str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err
    assert "native: B02, B03, B04, B08 (the guides)" in out and "adapt" not in out + err


def test_a_guide_that_is_the_reference_block_averaged_is_left_out(tmp_path, run_cli):
    """The issue's case: the stack's bands as the guides, one of them (unnamed) averaged 2 × 2 as the
    reference: that guide is left out, said, and the output is not the reference repeated."""
    stack, truth = hand_stack()
    src = write(tmp_path / "g.tif", stack[:4])  # unnamed: BAND1…BAND4
    ref = write(tmp_path / "ref.tif", block_mean(stack[3], 2)[None], transform=TEN @ Affine.scale(2))
    out, v, _ = sharpened(run_cli, tmp_path / "o.tif", str(src), "--reference", str(ref))
    assert "guide BAND4 left out: its cell means are the target REF's to" in out
    assert "guides: BAND1, BAND2, BAND3 on a 240×240 grid" in out
    cells = v[0].reshape(N // 2, 2, N // 2, 2)
    assert np.mean(np.ptp(cells, axis=(1, 3))) > 1


def test_a_guide_named_as_the_target_is_left_out(tmp_path, run_cli):
    stack, _ = hand_stack()
    src = write(tmp_path / "g.tif", stack[:4], NAMES[:4])
    ref = write(tmp_path / "B08.tif", block_mean(stack[0], 2)[None] + 7, transform=TEN @ Affine.scale(2))
    code, out, err = run_cli("sharpen", str(src), "--reference", str(ref), "-o", str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err
    assert "guide B08 left out: it is the target B08 (by name)" in out


@pytest.mark.parametrize("case", ["disagree", "no native", "nothing resampled"])
def test_a_stack_that_cannot_be_read_as_a_product_is_refused_in_one_line(tmp_path, run_cli, case):
    stack, _ = hand_stack()
    if case == "disagree":  # B02 (native by name) holds 2 × 2 blocks
        stack[0] = np.repeat(np.repeat(block_mean(stack[0], 2), 2, 0), 2, 1)
        names, want = NAMES, "its band B02 is native to this grid by its name, but its pixels hold constant 2×2"
    elif case == "no native":
        stack = stack[4:]
        names, want = NAMES[4:], "no native band to sharpen them from"
    else:
        stack, names, want = stack[:4], NAMES[:4], "no band was resampled onto its grid"
    src = write(tmp_path / "s.tif", stack, names)
    assert want in refused(run_cli, tmp_path, str(src), "-o", str(tmp_path / "o.tif"))


@pytest.mark.parametrize("flag, value", [("--bands", "B05,B05"), ("--guides", "B02,B02")])
def test_a_band_named_twice_is_refused(tmp_path, run_cli, flag, value):
    stack, _ = hand_stack()
    src = write(tmp_path / "s.tif", stack, NAMES)
    said = refused(run_cli, tmp_path, str(src), flag, value, "-o", str(tmp_path / "o.tif"))
    assert said.startswith(f"error: {flag} {value}: names {value[:3]} twice")


def test_the_plan_says_the_route_rule_once_and_s2_priors_time(tmp_path, run_cli):
    """``--plan`` with several targets: one line of the route rule, the bands listed; ``-m s2-prior`` gives
    its work and a time estimate in seconds."""
    stack, _ = hand_stack()
    src = write(tmp_path / "s.tif", stack, NAMES)
    code, out, err = run_cli("sharpen", str(src), "--bands", "B06", "-m", "s2-prior", "-o", str(tmp_path / "o.tif"),
                             "--plan")
    assert code == 0, err
    assert "B06: from B02, B03, B04, B08, s2-prior_B06; " in out
    assert "multiply-adds a pixel" in out and " s at the rate measured at 10980²" in out


def test_s2_priors_refusals_speak_sharpens_words(tmp_path, run_cli):
    """A raster whose bands s2-prior cannot read: no predict flag, no work file; an unknown name near
    s2-prior offered it; ``bandbridge models`` lists s2-prior as a sharpen prior."""
    stack, _ = hand_stack()
    src = write(tmp_path / "g.tif", stack[:3])  # three unnamed bands: the prior takes four
    ref = write(tmp_path / "B05.tif", block_mean(stack[4], 2)[None], transform=TEN @ Affine.scale(2))
    dst = str(tmp_path / "o.tif")
    said = refused(run_cli, tmp_path, str(src), "-m", "s2-prior", "--reference", str(ref), "-o", dst)
    assert said.startswith("error: -m s2-prior: g.tif: ") and "B02, B03, B04, B08" in said
    assert not any(f in said for f in ("--band-names", "--bands", "--scaling", "model_input"))
    near = refused(run_cli, tmp_path, str(src), "-m", "s2-prio", "--reference", str(ref), "-o", str(tmp_path / "o.tif"))
    assert "did you mean s2-prior?" in near and "sharpen prior (s2-prior" in near
    code, out, _ = run_cli("models")
    assert code == 0 and "s2-prior" in out and "a sharpen prior" in out


SEN12MS = SHARED / "sar_sen12mscr_glfcr" / "s2_cloudfree"


@needs_shared
@pytest.mark.parametrize("scene", ["ROIs1970_fall_139_p839", "ROIs2017_winter_112_p797"])
def test_sen12mscr_scenes_bands_are_found_by_names_and_pixels(scene):
    """13 unnamed bands read in L1C's order; every 10 m band native, every 20 m band smooth at 2, every
    60 m band smooth at 6 (SEN12MS reprojected them); by pixels alone the same."""
    with rasterio.open(SEN12MS / f"{scene}.tif") as s:
        v, count = s.read().astype(np.float64), s.count
    names, how = stack_names([None] * count, count)
    assert "L1C" in how
    want = {n: 1 if n in ("B02", "B03", "B04", "B08") else 6 if n in ("B01", "B09", "B10") else 2 for n in names}
    assert {f.name: f.k for f in find(v, names, 10.0)} == want
    assert [f.k for f in find(v, [f"BAND{i + 1}" for i in range(count)], None)] == list(want.values())


@needs_shared
def test_sen12mscr_with_its_own_b05_averaged_as_the_reference_does_not_copy_it(tmp_path, run_cli):
    """The issue's case: the scene as the guides, its B05 averaged to 20 m as the reference. The guide
    band 5 is left out; the output is not the reference repeated 2 × 2; the held-out error is a real one."""
    with rasterio.open(SEN12MS / "ROIs1970_fall_139_p839.tif") as s:
        b05, tr = s.read(5).astype(np.float64), s.transform
    ref = tmp_path / "B05.tif"
    with rasterio.open(ref, "w", driver="GTiff", height=128, width=128, count=1, dtype="uint16", crs=s.crs,
                       transform=tr @ Affine.scale(2)) as d:
        d.write(np.round(block_mean(b05, 2)).astype("uint16")[None])
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(SEN12MS / "ROIs1970_fall_139_p839.tif"), "--reference",
                             str(ref))
    assert "guide BAND5 left out" in out
    assert np.mean(np.ptp(v[0].reshape(128, 2, 128, 2), axis=(1, 3))) > 5
    with rasterio.open(tmp_path / "o.tif") as d:
        assert float(d.tags(1)["bandbridge_heldout_error"]) > 1


@needs_shared
def test_a_sen12mscr_scene_alone_is_sharpened_as_its_product(tmp_path, run_cli):
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(SEN12MS / "ROIs2017_winter_112_p797.tif"))
    assert "13 unnamed bands read in Sentinel-2 L1C's order" in out
    assert said["names"] == ("B01", "B05", "B06", "B07", "B8A", "B09", "B10", "B11", "B12")
    assert said["size"] == (256, 256) and np.isfinite(v).all()
