"""Model selection by the worst held-out group: the ratio to the anchor per source (or per group
of one source), the rule that turns it on, and real runs whose `best` beats the anchor on every
source or group, or is the anchor."""

import json

import pytest
import yaml

from bandbridge.config import load_config
from bandbridge.learners.select import worst_group_ratio
from bandbridge.workflows.groups import MONITOR, WorstGroup, group_table, grouped
from conftest import SAMPLE, TINY


def test_worst_group_ratio_is_the_source_that_gained_least():
    base = {"a": 0.04, "b": 0.10}
    assert worst_group_ratio({"a": 0.02, "b": 0.09}, base) == pytest.approx(0.9)
    assert worst_group_ratio({"a": 0.05, "b": 0.05}, base) == pytest.approx(1.25)


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


def network_best(run):
    """The network's best epoch's model.yaml: model/best, or model/network when the run's last
    step handed model/best to a learner (or to the network's anchor alone)."""
    f = run / "learner.json"  # no last step with train.learner_minutes 0
    kept = json.loads(f.read_text())["kept"] if f.exists() else "network"
    return yaml.safe_load((run / "model" / ("best" if kept == "network" else "network")
                           / "model.yaml").read_text())


def test_two_source_run_keeps_the_anchor_unless_every_source_gains(run_cli, tmp_path):
    regions = "{train: [0, 0.6], val: [0.6, 0.8], test: [0.8, 1]}"
    (tmp_path / "two.yaml").write_text(f"""
data:
  sources:
    - {{recipe: naip_opengeos, name: early, files: ["nir_naip_opengeos/*2009*.tif", "nir_naip_opengeos/*2012*.tif"], split: {{regions: {regions}}}}}
    - {{recipe: naip_opengeos, name: late, files: ["nir_naip_opengeos/*2018*.tif", "nir_naip_opengeos/*2020*.tif"], split: {{regions: {regions}}}}}
""")
    sets = [a for s in [*TINY, "train.max_epochs=2", "data.max_eval_tiles=6", "train.network_held_out=false"]
            for a in ("--set", s)]
    code, out, err = run_cli("train", "--preset", "rgb2nir-wgangp-cpu", "--config",
                             str(tmp_path / "two.yaml"), "--data", str(SAMPLE),
                             "--runs", str(tmp_path / "runs"), *sets)
    assert code == 0, err
    assert "model selection: the worst of 2 held-out sources" in out
    assert "validation L1 per held-out group" in out and " early " in out and " late " in out
    run = next((tmp_path / "runs").glob("*/*"))
    table = json.loads((run / "summary.json").read_text())["groups"]
    assert set(table) == {"early", "late"}
    best = network_best(run)
    ratio = best["val_metrics"][MONITOR]
    assert ratio <= 1.0  # never worse than the anchor on the worst source
    assert max(r["ratio"] for r in table.values()) == pytest.approx(ratio, rel=1e-4)
    if best["epoch"] == -1:  # the anchor itself
        assert all(r["best"] == r["anchor"] for r in table.values())
    # two sources: the anchor (the core's learner) chosen holding each source out in turn
    anchor = json.loads((run / "baseline.json").read_text())["anchor"]
    assert anchor["kind"] == "learner" and len(anchor["folds"]) == 2
    assert {"linear", "constant"} <= set(anchor["oof_mae"])
    assert anchor["oof_mae"][anchor["chosen"]] == min(anchor["oof_mae"].values())


def test_one_source_with_two_validation_groups_selects_by_the_worse_group(run_cli, tmp_path):
    """One source whose validation holds two groups (here two dates, keyed by year): the groups
    take the sources' place, so a trained epoch must beat the anchor on both."""
    (tmp_path / "one.yaml").write_text("""
data:
  sources:
    - {recipe: naip_opengeos, split: {train: [_2009], val: [_2012, _2018], test: [_2020], group: '_(\\d{4})\\d{4}'}}
""")
    sets = [a for s in [*TINY, "train.max_epochs=2", "data.max_eval_tiles=6", "train.group_by=group"]
            for a in ("--set", s)]
    code, out, err = run_cli("train", "--preset", "rgb2nir-wgangp-cpu", "--config",
                             str(tmp_path / "one.yaml"), "--data", str(SAMPLE),
                             "--runs", str(tmp_path / "runs"), *sets)
    assert code == 0, err
    assert "model selection: the worst of 2 held-out groups of its one source" in out
    run = next((tmp_path / "runs").glob("*/*"))
    table = json.loads((run / "summary.json").read_text())["groups"]
    assert set(table) == {"naip_opengeos/2012", "naip_opengeos/2018"}
    best = network_best(run)
    assert best["val_metrics"][MONITOR] <= 1.0
    assert max(r["ratio"] for r in table.values()) == pytest.approx(best["val_metrics"][MONITOR], rel=1e-4)


def test_group_key_is_the_source_with_two_sources_else_the_split_group():
    from types import SimpleNamespace as NS
    from bandbridge.workflows.groups import group_key, val_groups
    from bandbridge.data.datasets import LoadedPair

    def pair(src, g, i="x"):  # the attributes the grouping reads; the label from LoadedPair itself
        p = NS(source=NS(name=src), item=NS(group=g, id=i))
        p.group = LoadedPair.group.fget(p)
        return p
    two = [pair("a", "1"), pair("b", "1")]
    one = [pair("a", "1"), pair("a", "2"), pair("a", "", "solo")]
    assert group_key(two) == group_key(two, "source") == "source" and val_groups(two, "source") == {"a", "b"}
    assert group_key(one) == "group" and val_groups(one, "group") == {"a/1", "a/2", "a/solo"}
    assert group_key(one, "source") == "source" and val_groups(one, "source") == {"a"}  # train.group_by=source
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE))
    assert cfg.train.group_by == "source"  # the default: one source keeps train.monitor
    assert grouped(cfg, val_groups(one, "source"), True).train.monitor == cfg.train.monitor
    assert load_config("rgb2nir-photo-cpu").train.group_by == "group"  # categories decide
