"""`bandbridge predict` parses, calls one function, prints (issue 69): every flag reaches
``inference/jobs/request.predict_flags`` as typed, which builds the prediction's, the reference's
and the cluster's options and checks the reference's companion flags; the command only prints what
comes back."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from bandbridge.errors import BandbridgeError
from bandbridge.inference.jobs import request
from bandbridge.inference.jobs.predict import Outcome


def test_the_command_hands_its_flags_to_one_function_and_prints_its_report(run_cli, monkeypatch):
    calls = []

    def fake(inputs, model, output, ov, **flags):
        calls.append((inputs, model, output, ov, flags))
        flags["say"]("a line said")
        return Outcome([{"mpix": 1.5}], 2.0)
    monkeypatch.setattr(request, "predict_flags", fake)
    code, stdout, err = run_cli("predict", "a.tif", "b.tif", "-m", "rgb2nir", "-o", "out", "--index", "ndvi,evi",
                                "-co", "COMPRESS=ZSTD", "--workers", "2", "--bands", "2,1,0", "--reference",
                                "ref.tif", "--reference-band", "nir", "--plan")
    assert code == 0, err
    ((inputs, model, output, ov, flags),) = calls
    assert (inputs, model, output) == (["a.tif", "b.tif"], "rgb2nir", "out") and ov.bands == ("2", "1", "0")
    assert flags["index"] == "ndvi,evi" and flags["creation"] == ["COMPRESS=ZSTD"] and flags["workers"] == 2
    assert flags["reference"] == "ref.tif" and flags["reference_band"] == "nir" and flags["plan"] is True
    assert "a line said" in stdout and "1 file(s), 1.50 MPix" in stdout


def test_the_function_builds_the_options_from_the_flags(monkeypatch):
    got = {}

    def fake_predict(inputs, model, output, opts, ov, **kw):
        got.update(opts=opts, **kw)
        with kw["bar"]() as add:
            add("x", 1)
        return Outcome([], 0.0)
    monkeypatch.setattr(request, "predict", fake_predict)
    units = []

    @contextmanager
    def bars(unit):
        units.append(unit)
        yield lambda what, total: None
    done = request.predict_flags(["a.tif"], "m", "o", index="ndvi, evi", creation=["compress=zstd"], cog=True,
                                 workers=3, strips=4, reference="ref.tif", reference_date="2020-08-31",
                                 bars=bars)
    assert done == Outcome([], 0.0)
    assert got["opts"].indices == ("ndvi", "evi") and got["opts"].creation == {"COMPRESS": "zstd"}
    assert got["opts"].cog and got["cluster"].workers == 3 and got["cluster"].strips == 4
    assert got["reference"].source == "ref.tif" and got["reference"].date == "2020-08-31"
    assert units == [None]  # on a cluster the bar counts tasks, not tiles
    request.predict_flags(["a.tif"], "m", "o", bars=bars)
    assert units[-1] == "tiles" and got["reference"] is None and got["cluster"].used is False
    assert request.predict_flags(["a.tif"], "m", "o", plan=True) is None  # --plan: nothing to report


@pytest.mark.parametrize("flag", ["--reference-mask", "--reference-date", "--reference-band"])
def test_a_reference_companion_without_the_reference_is_one_line(run_cli, tmp_path, flag):
    code, _, err = run_cli("predict", "a.tif", "-m", "rgb2nir", "-o", str(tmp_path / "o.tif"), flag, "x")
    assert code == 2 and err.strip().count("\n") == 0, err
    assert ("--reference-mask, --reference-date and --reference-band go with --reference; add --reference FILE"
            in " ".join(err.split()))
    assert not (tmp_path / "o.tif").exists()
    with pytest.raises(BandbridgeError, match="go with --reference"):
        request.predict_flags(["a.tif"], "m", "o", reference_mask="x")
