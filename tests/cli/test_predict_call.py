"""`bandbridge predict` parses, builds its option objects once and calls one function (issues 69, 77, 83):
every flag reaches ``inference/jobs/predict.predict`` (with ``--reference``:
``inference/place/reference.predict_with_reference``) inside the prediction's (``PredictOptions``), the
cluster's (``Cluster``, in the ``Engine``) or the reference's (``ReferenceOptions``) options, or as the
call's own keyword; the reference's companion flags are checked; the command only prints what comes back."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from bandbridge.errors import BandbridgeError
from bandbridge.inference.jobs import predict as jobs
from bandbridge.inference.jobs.predict import Outcome
from bandbridge.inference.place import reference as place
from bandbridge.inference.place.reference import reference_options


@pytest.fixture()
def calls(monkeypatch):
    got = []

    def fake(inputs, model, output, opts, ov, reference=None, **kw):
        got.append(dict(inputs=inputs, model=model, output=output, opts=opts, ov=ov, reference=reference, **kw))
        kw["say"]("a line said")
        with kw["bar"]() as add:
            add("x", 1)
        return Outcome([{"mpix": 1.5}], 2.0)
    def fake_reference(request, **kw):  # the reference kind's request, built by the command
        assert isinstance(request, place.Request)
        return fake(request.inputs, request.model, request.output, request.opts, request.ov, request.reference,
                    overwrite=request.overwrite, **kw)
    monkeypatch.setattr(jobs, "predict", fake)
    monkeypatch.setattr(place, "predict_with_reference", fake_reference)
    return got


@pytest.fixture
def units(monkeypatch):
    """The unit each progress bar the command opens counts in."""
    got = []

    @contextmanager
    def bars(unit):
        got.append(unit)
        yield lambda what, total: lambda k=1: None
    monkeypatch.setattr("bandbridge.cli.predict.bars", bars)
    return got


def test_the_command_builds_the_options_once_and_prints_the_report(run_cli, calls, units):
    code, stdout, err = run_cli("predict", "a.tif", "b.tif", "-m", "rgb2nir", "-o", "out", "--index", "ndvi, evi",
                                "-co", "compress=zstd", "--cog", "--workers", "3", "--strips", "4", "--bands", "2,1,0",
                                "--reference", "ref.tif", "--reference-date", "2020-08-31", "--threads", "2")
    assert code == 0, err
    (c,) = calls
    assert (c["inputs"], c["model"], c["output"]) == (["a.tif", "b.tif"], "rgb2nir", "out")
    assert c["ov"].bands == ("2", "1", "0") and c["engine"].threads == 2 and c["plan_only"] is False
    assert c["opts"].indices == ("ndvi", "evi") and c["opts"].creation == {"COMPRESS": "zstd"} and c["opts"].cog
    cluster = c["engine"].cluster
    assert cluster.workers == 3 and cluster.strips == 4 and cluster.used
    assert c["reference"].source == "ref.tif" and c["reference"].date == "2020-08-31"
    assert units == [None]  # on a cluster the bar counts tasks, not tiles
    assert "a line said" in stdout and "1 file(s), 1.50 MPix" in stdout


def test_here_the_bar_counts_tiles_and_plan_prints_no_report(run_cli, calls, units):
    code, stdout, err = run_cli("predict", "a.tif", "-m", "rgb2nir", "-o", "o.tif", "--plan")
    assert code == 0, err
    assert units == ["tiles"] and calls[-1]["reference"] is None and not calls[-1]["cluster"].used
    assert calls[-1]["plan_only"] is True and "MPix" not in stdout  # --plan: nothing to report


@pytest.mark.parametrize("flag", ["--reference-mask", "--reference-date", "--reference-band"])
def test_a_reference_companion_without_the_reference_is_one_line(run_cli, tmp_path, flag):
    code, _, err = run_cli("predict", "a.tif", "-m", "rgb2nir", "-o", str(tmp_path / "o.tif"), flag, "x")
    assert code == 2 and err.strip().count("\n") == 0, err
    assert ("--reference-mask, --reference-date and --reference-band go with --reference; add --reference FILE"
            in " ".join(err.split()))
    assert not (tmp_path / "o.tif").exists()
    with pytest.raises(BandbridgeError, match="go with --reference"):
        reference_options(None, mask="x")
