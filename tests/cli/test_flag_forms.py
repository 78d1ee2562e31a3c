"""Flags whose odd values were taken or answered the wrong way (issue 98): `--reference-shift ''` was auto and
`nan,0` got warp advice; `gaps --pairs -1`, `--pairs 0` and `-o ''` were accepted. Each is one line naming the flag
and its form, exit code 2, nothing written."""

from __future__ import annotations

import pytest


def _one_line(code: int, err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    return " ".join(err.split())


@pytest.mark.parametrize("value", ["", "nan,0", "0,inf", "-inf,nan"])
def test_reference_shift_refuses_an_empty_or_not_finite_value_with_its_form(run_cli, tmp_path, value):
    out = tmp_path / "o.tif"
    code, _, err = run_cli("sharpen", str(tmp_path / "fine.tif"), "--reference", str(tmp_path / "coarse.tif"),
                           "-o", str(out), "--reference-shift", value)
    said = _one_line(code, err)
    assert said.startswith("error: --reference-shift") and "give auto, none, or X,Y" in said, said
    assert "warp" not in said and not out.exists()


@pytest.mark.parametrize("args", [["--pairs", "-1"], ["--pairs", "0"], ["-o", ""], ["-o", "  "]])
def test_gaps_refuses_pairs_below_one_and_an_empty_output(run_cli, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)  # -o '' was this folder
    (tmp_path / "worldcereal").mkdir()
    flags = ["-o", str(tmp_path / "g")] if args[0] != "-o" else []
    code, _, err = run_cli("gaps", "--data", str(tmp_path), *flags, *args)
    said = _one_line(code, err)
    assert ("--pairs" in said and ">= 1" in said.replace("greater than or equal to", ">=")) or \
        "--output '" in said and "an empty path" in said, said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worldcereal"]
