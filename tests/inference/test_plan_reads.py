"""A plan reads headers and a bounded look at the values (issue 69): `predict --plan` on a 200000²
sparse GeoTIFF without overviews took 75–600 s, the decimated look decoding every block. The look
now decodes at most ``policy.LOOK_READ_MPIX`` of such a file, blocks spread evenly; the pixels it
keeps sit where the whole look would have put them. Work is counted (the pixels of every window
rasterio is asked for), never timed."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

from bandbridge import policy
from bandbridge.data import reader


@pytest.fixture
def counted(monkeypatch):
    """Every pixel rasterio reads (the window's, or the whole band's without one), summed; a read
    past ``limit`` fails at once (before the bound, the look would decode 4·10¹⁰ pixels)."""
    seen = {"px": 0, "limit": float("inf")}
    real = rasterio.io.DatasetReader.read

    def read(self, indexes=None, *a, window=None, **k):
        if window is None:
            px = self.height * self.width
        else:
            w = window if isinstance(window, Window) else Window.from_slices(*window)
            px = int(w.height * w.width)
        seen["px"] += px
        assert seen["px"] <= seen["limit"], f"read {seen['px']:,} pixels so far, over {seen['limit']:,.0f}"
        return real(self, indexes, *a, window=window, **k)
    monkeypatch.setattr(rasterio.io.DatasetReader, "read", read)
    return seen


def _sparse(path, side: int, blocks: dict[tuple[int, int], int]) -> None:
    """A ``side``² 3-band uint8 GeoTIFF of 256² tiles, no overviews, only ``blocks`` written
    (``(row, col) of a 256² block → value``): the rest is never stored (SPARSE_OK)."""
    prof = dict(driver="GTiff", width=side, height=side, count=3, dtype="uint8", tiled=True, blockxsize=256,
                blockysize=256, crs="EPSG:32614", transform=Affine(0.6, 0, 500000, 0, -0.6, 5000000),
                SPARSE_OK=True, compress="deflate")
    with rasterio.open(path, "w", **prof) as o:
        for (r, c), v in blocks.items():
            o.write(np.full((3, 256, 256), v, np.uint8), window=Window(c * 256, r * 256, 256, 256))


def test_the_plan_of_a_200000_square_sparse_file_reads_a_bounded_number_of_pixels(run_cli, tmp_path, counted):
    big = tmp_path / "big.tif"
    _sparse(big, 200_000, {(0, 0): 90, (390, 390): 120, (780, 780): 150})
    counted["limit"] = policy.LOOK_READ_MPIX * 1e6
    code, out, err = run_cli("predict", str(big), "-m", "rgb2nir", "-o", str(tmp_path / "out.tif"), "--plan")
    assert code == 0, err
    assert out.startswith("plan: 1 input(s)") and "big.tif → " in out
    assert 0 < counted["px"] <= policy.LOOK_READ_MPIX * 1e6, counted
    assert not (tmp_path / "out.tif").exists()


def test_a_sampled_look_holds_the_files_pixels_where_the_whole_look_would(monkeypatch, tmp_path, counted):
    """Over the bound (lowered here to 1 MPix), the look keeps the file's own values on the
    k-lattice where it read them, marks the rest invalid, and decodes at most the bound; under
    it, the whole look as before."""
    from bandbridge.bands import get_scaling
    path = tmp_path / "ramp.tif"
    side = 3000
    ramp = (np.add.outer(np.arange(side), 3 * np.arange(side)) % 251).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=3, dtype="uint8", tiled=True,
                       blockxsize=256, blockysize=256) as o:
        o.write(np.stack([ramp, ramp // 2, 255 - ramp]))
    stored = get_scaling("uint8", None, None)
    whole = reader.read_decimated(path, stored, max_side=512)  # 9 MPix: under the bound, read whole
    k = whole.meta["decimation"]
    assert k == 6 and whole.mask.all() and counted["px"] >= side * side
    np.testing.assert_allclose(whole.data[0] * 255, ramp[::k, ::k], atol=1e-3)
    monkeypatch.setattr(policy, "LOOK_READ_MPIX", 1.0)
    reader._DECIMATED.clear()
    counted["px"] = 0
    look = reader.read_decimated(path, stored, max_side=512)
    assert counted["px"] <= 1e6 and look.data.shape == whole.data.shape
    kept = look.mask
    assert 0.05 < kept.mean() < 0.2, kept.mean()  # about 1 MPix of the file's 9
    np.testing.assert_allclose(look.data[:, kept], whole.data[:, kept], atol=1e-6)
    rows, cols = np.nonzero(kept.any(1))[0], np.nonzero(kept.any(0))[0]
    assert rows.min() == 0 and rows.max() == kept.shape[0] - 1  # spread to both ends
    assert cols.min() == 0 and cols.max() == kept.shape[1] - 1
