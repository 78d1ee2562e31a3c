"""Model selection by the worst held-out source: the ratio to the anchor per source, the rule
that turns it on, and a real two-source run whose `best` beats the anchor on every source or is
the anchor."""

import json

import pytest
import yaml

from bandbridge.config import load_config
from bandbridge.workflows.groups import MONITOR, WorstGroup, group_table, grouped, worst_ratio
from conftest import SAMPLE, TINY


def test_worst_ratio_is_the_source_that_gained_least():
    base = {"a": 0.04, "b": 0.10}
    assert worst_ratio({"a": 0.02, "b": 0.09}, base) == pytest.approx(0.9)
    assert worst_ratio({"a": 0.05, "b": 0.05}, base) == pytest.approx(1.25)


def test_group_table_reads_the_best_epoch_or_the_anchor():
    cb = WorstGroup(lambda: [], [], base={"a": 0.04, "b": 0.10})
    cb.epochs = {0: {"a": 0.03, "b": 0.12}, 1: {"a": 0.02, "b": 0.08}}
    t = group_table(cb, 1)
    assert t["a"] == pytest.approx({"anchor": 0.04, "best": 0.02, "ratio": 0.5})
    assert t["b"]["ratio"] == pytest.approx(0.8)
    assert group_table(cb, -1)["b"]["ratio"] == 1.0  # best = the start: the anchor itself
    state = cb.state_dict()
    again = WorstGroup(lambda: [], [])
    again.load_state_dict(json.loads(json.dumps(state)))  # survives a checkpoint round trip
    assert again.base == cb.base and again.epochs == cb.epochs


def test_grouped_selection_needs_two_sources_and_an_anchor():
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE))
    assert grouped(cfg, {"a", "b"}, True).train.monitor == MONITOR
    assert grouped(cfg, {"a", "b"}, True).train.monitor_mode == "min"
    assert grouped(cfg, {"a"}, True).train.monitor == cfg.train.monitor
    assert grouped(cfg, {"a", "b"}, False).train.monitor == cfg.train.monitor


def test_two_source_run_keeps_the_anchor_unless_every_source_gains(run_cli, tmp_path):
    regions = "{train: [0, 0.6], val: [0.6, 0.8], test: [0.8, 1]}"
    (tmp_path / "two.yaml").write_text(f"""
data:
  sources:
    - {{recipe: naip_opengeos, name: early, files: ["nir_naip_opengeos/*2009*.tif", "nir_naip_opengeos/*2012*.tif"], split: {{regions: {regions}}}}}
    - {{recipe: naip_opengeos, name: late, files: ["nir_naip_opengeos/*2018*.tif", "nir_naip_opengeos/*2020*.tif"], split: {{regions: {regions}}}}}
""")
    sets = [a for s in [*TINY, "train.max_epochs=2", "data.max_eval_tiles=6"] for a in ("--set", s)]
    code, out, err = run_cli("train", "--preset", "rgb2nir-wgangp-cpu", "--config",
                             str(tmp_path / "two.yaml"), "--data", str(SAMPLE),
                             "--runs", str(tmp_path / "runs"), *sets)
    assert code == 0, err
    assert "model selection: the worst of 2 held-out sources" in out
    assert "validation L1 per held-out source" in out and " early " in out and " late " in out
    run = next((tmp_path / "runs").glob("*/*"))
    table = json.loads((run / "summary.json").read_text())["groups"]
    assert set(table) == {"early", "late"}
    best = yaml.safe_load((run / "model" / "best" / "model.yaml").read_text())
    ratio = best["val_metrics"][MONITOR]
    assert ratio <= 1.0  # never worse than the anchor on the worst source
    assert max(r["ratio"] for r in table.values()) == pytest.approx(ratio, rel=1e-4)
    if best["epoch"] == -1:  # the anchor itself
        assert all(r["best"] == r["anchor"] for r in table.values())
    anchor = json.loads((run / "baseline.json").read_text())["anchor"]
    assert anchor["rule"] == "leave-one-source-out"  # two sources: the anchor's fit chosen across them
    assert {"linear", "mean"} <= set(anchor["scores"]) and anchor["chosen"] in anchor["scores"]
    assert anchor["scores"][anchor["chosen"]] == min(anchor["scores"].values())
