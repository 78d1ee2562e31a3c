"""``bandbridge gaps`` refuses before it scores (issue 77): ``-o`` that cannot be written or that
holds the record without ``--overwrite``, and a WorldCereal sample without one of its cubes, each
in one line, exit 2, nothing written. No shared data: the data root is made of empty files here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bandbridge.evaluation import gaps

SAMPLE = gaps.SAMPLES[0]
ID = SAMPLE.removeprefix("sample_")


def _root(tmp_path: Path, without: str | None = None) -> Path:
    """A data root whose first sample holds its three cubes (empty files: only their names are
    checked), less any whose name starts with ``without``."""
    d = tmp_path / "data" / "worldcereal" / SAMPLE
    d.mkdir(parents=True)
    for name in (f"S2_L2A_10m_{ID}.nc", f"S2_L2A_20m_{ID}.nc", f"S1_GRD-ASCENDING_20m_{ID}.nc"):
        if not (without and name.startswith(without)):
            (d / name).write_bytes(b"")
    return tmp_path / "data"


@pytest.fixture
def scored(monkeypatch) -> list[str]:
    """``run_gaps`` replaced by one that notes it was called and returns a one-pair record."""
    calls: list[str] = []

    def fake(data, say=print, limit=None):
        calls.append(str(data))
        row = gaps.Row(ID, "2018-01-01", "2018-01-05", 4, "disc", 10, {"linear": 0.02, "fill": 0.01})
        return {"rows": [row.__dict__], "summary": gaps.summarise([row]), "scores": {}, "realism": {}}
    monkeypatch.setattr(gaps, "run_gaps", fake)
    return calls


def test_an_output_folder_that_cannot_be_written_is_refused_before_scoring(tmp_path, run_cli, scored):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, out, err = run_cli("gaps", "--data", str(_root(tmp_path)), "-o", str(blocker / "results"), "--no-sources")
    assert code == 2 and scored == [] and "Traceback" not in err
    assert "--output" in err and "a_file is a file" in err and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused_before_scoring(tmp_path, run_cli, scored):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = run_cli("gaps", "--data", str(_root(tmp_path)), "-o", str(ro), "--no-sources")
    finally:
        ro.chmod(0o755)
    assert code == 2 and scored == [] and "cannot write" in err and list(ro.iterdir()) == []


def test_a_sample_without_its_sentinel1_cube_is_named(tmp_path, run_cli, scored):
    code, _, err = run_cli("gaps", "--data", str(_root(tmp_path, without="S1_GRD")), "-o", str(tmp_path / "o"))
    assert code == 2 and scored == [] and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"worldcereal/{SAMPLE} has no Sentinel-1 cube (S1_GRD-*.nc)" in err
    assert not (tmp_path / "o").exists()


def test_a_sample_without_its_scl_cube_is_named(tmp_path, run_cli, scored):
    code, _, err = run_cli("gaps", "--data", str(_root(tmp_path, without="S2_L2A_20m")), "-o", str(tmp_path / "o"))
    assert code == 2 and scored == [] and "20 m Sentinel-2 cube (its SCL)" in err


def test_the_record_is_not_replaced_without_overwrite(tmp_path, run_cli, scored):
    out = tmp_path / "results"
    out.mkdir()
    (out / "gaps.md").write_text("the earlier record")
    code, _, err = run_cli("gaps", "--data", str(_root(tmp_path)), "-o", str(out), "--no-sources")
    assert code == 2 and scored == [] and "gaps.md already" in err and "--overwrite" in err
    assert (out / "gaps.md").read_text() == "the earlier record" and not (out / "gaps.json").exists()
    # the sources' record is the command's too: refused the same way unless --no-sources leaves it out
    (out / "gaps.md").unlink()
    (out / "gaps_sources.json").write_text("{}")
    code, _, err = run_cli("gaps", "--data", str(_root(tmp_path / "b")), "-o", str(out))
    assert code == 2 and scored == [] and "gaps_sources.json already" in err
    code, _, err = run_cli("gaps", "--data", str(_root(tmp_path / "c")), "-o", str(out), "--no-sources")
    assert code == 0 and len(scored) == 1 and (out / "gaps.md").read_text().startswith("# Cloud gaps filled")


def test_overwrite_replaces_the_record(tmp_path, run_cli, scored):
    out = tmp_path / "results"
    out.mkdir()
    (out / "gaps.md").write_text("the earlier record")
    code, _, _ = run_cli("gaps", "--data", str(_root(tmp_path)), "-o", str(out), "--no-sources", "--overwrite")
    assert code == 0 and scored and "--overwrite" in (out / "gaps.md").read_text()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temporary file left
