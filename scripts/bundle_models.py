"""Copy trained -cpu runs into src/bandbridge/zoo/ as bundled models (fp16 safetensors, config,
model card with data attribution, command, training time and the evaluation table).

    python scripts/bundle_models.py RUNS_DIR [LOSO_DIR]  # as written by train_cpu_presets.sh
                                                         # and loso_cpu.sh
    python scripts/bundle_models.py --hash-zoo           # write weights_sha256 into the zoo's
                                                         # model.yaml files (weights untouched)
    python scripts/bundle_models.py --card-only RUNS_DIR LOSO_DIR [NAME ...]  # rewrite the cards
                                  # of the shipped bundles (e.g. with new LOSO tables)
    python scripts/bundle_models.py --refresh-tables [NAME ...]  # re-evaluate the shipped bundles
                                  # (e.g. after new baselines) and replace their cards' tables
    python scripts/bundle_models.py --tables-from runs/bundle-results NAME ...  # the same, from
                                  # the evaluations benchmarks/bundle_results.py just made
    python scripts/bundle_models.py --stamp-seen [NAME ...]  # record in each zoo bundle the values
                                  # its training inputs held (model.yaml: inputs_seen; weights untouched)
    python scripts/bundle_models.py --loso-only LOSO_DIR [NAME ...]  # replace the cards'
                                  # leave-one-source-out section (docs/loso: the kept records)

Each form takes ``--zoo DIR``: the folder of bundles to write (default the package's zoo,
``src/bandbridge/zoo``). ``tests/project/test_bundle_models.py`` runs the card and hash edits on
copies of bundles.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from bandbridge.bundle import load_bundle, save_bundle, stamp_weights_hash
from bandbridge.config import load_config
from bandbridge.models import count_parameters

ZOO = Path(__file__).resolve().parent.parent / "src" / "bandbridge" / "zoo"
NAMES = {"rgb2nir-wgangp-cpu": "rgb2nir-naip", "rgb2nir-pix2pix-cpu": "rgb2nir-s2",
         "sar2optical-cpu": "sar2optical", "rgb2thermal-cpu": "rgb2thermal", "rgb2nir-photo-cpu": "rgb2nir-photo", "sr-x2-cpu": "sr-x2", "sr-x3-cpu": "sr-x3",
         "sr-x4-cpu": "sr-x4"}
ATTRIBUTION = {
    "naip_opengeos": "NAIP imagery (USDA, public domain) via github.com/opengeos/data (MIT)",
    "naip_stactools": "NAIP imagery (USDA, public domain) via stactools-packages/naip test files",
    "s2_eolearn": "Contains modified Copernicus Sentinel data (eo-learn example data, MIT)",
    "s2_wildfire": "Contains modified Copernicus Sentinel data (Runan-Duan/Wildfire_Detection, via Google Earth Engine)",
    "s2_sen12mscr": "SEN12MS-CR (Ebel et al. 2020, TUM); contains modified Copernicus Sentinel data",
    "s2_majortom": "Major-TOM Core (CC-BY-SA-4.0); contains modified Copernicus Sentinel data",
    "s2_riotilerpds": "Contains modified Copernicus Sentinel data (Sentinel-2 COGs on AWS)",
    "sen12mscr": "SEN12MS-CR (Ebel et al. 2020, TUM); contains modified Copernicus Sentinel data",
    "sen1floods11": "Sen1Floods11 (Bonafilia et al. 2020, CC-BY-4.0); contains modified Copernicus Sentinel data",
    "roadscene": "RoadScene (hanna-xu/RoadScene), derived from the FLIR ADAS data set (FLIR terms): "
                 "weights only, for research and evaluation",
    "tno": "TNO Image Fusion Dataset (Toet 2014, figshare; research use, cite): weights only",
    "epfl_photos": "EPFL RGB-NIR Scene Dataset (Brown & Süsstrunk, CVPR 2011; research use, cite): weights only",
    "sr_t91": "T91 (Yang et al. 2010; research terms) via jiny2001/dcscn-super-resolution (MIT)",
    "sr_bsd200": "BSD200, the BSDS300 training images (Martin et al. 2001; academic terms) via "
                 "jiny2001/dcscn-super-resolution (MIT)",
    "sr_bsd100": "BSD100 (Berkeley Segmentation Dataset; academic terms) via SelfExSR",
    **{f"sr_set14_x{s}": "Set14 (Zeyde et al.; academic terms) via SelfExSR" for s in (2, 3, 4)},
    "landsat8_toa": "Landsat-8 OLI (USGS, public domain) via cogeotiff/rio-tiler-pds test fixtures (BSD-3-Clause)",
    "modis_nbar": "MODIS MCD43A4 (NASA LP DAAC, public domain) via cogeotiff/rio-tiler-pds test fixtures",
    "worldcereal_s2": "ESA WorldCereal sample cubes (CC-BY-4.0); contains modified Copernicus Sentinel data",
    "worldcereal_s1s2": "ESA WorldCereal sample cubes (CC-BY-4.0); contains modified Copernicus Sentinel data",
    "s2_rsgislib_wales": "rsgislib test data (remotesensinginfo/rsgislib, GPL-3.0); contains modified Copernicus Sentinel data",
    "s2_rsgislib_tanzania": "rsgislib test data (remotesensinginfo/rsgislib, GPL-3.0); contains modified Copernicus Sentinel data",
    "s2_bigearthnet": "BigEarthNet v1 (Sumbul et al. 2019, CDLA-Permissive-1.0) via ConfigILM (MIT); contains modified Copernicus Sentinel data",
    "bigearthnet_s1s2": "BigEarthNet v1 / BigEarthNet-MM (Sumbul et al. 2021, CDLA-Permissive-1.0) via ConfigILM (MIT); contains modified Copernicus Sentinel data",
}
# The exact extra arguments each bundled model was trained with (beyond --preset and --data).
EXTRA_ARGS = {"rgb2nir-wgangp-cpu": "--set 'data.sources=[naip_opengeos,{recipe: naip_stactools, split: "
                                    "{val: [m_3211605, m_3907864], default: train}}]' --set train.threads=1",
              "sr-x2-cpu": "--set train.threads=1",
              "rgb2thermal-cpu": "--set train.threads=1", "rgb2nir-photo-cpu": "--set train.threads=1",
              "rgb2nir-pix2pix-cpu": "--set train.threads=1", "sar2optical-cpu": "--set train.threads=1",
              **{f"sr-x{s}-cpu": "--set train.threads=1 --init-from runs/sr/sr-x2-cpu/<run>/model/best"
                 for s in (3, 4)}}
SCRIPTS = {f"sr-x{s}-cpu": "scripts/train_sr.sh" for s in (2, 3, 4)}  # else train_cpu_presets.sh
# Presets whose trained residual is switched off at bundling — the bundle ships its anchor, guard
# and error model — because leave-one-source-out (scripts/loso_cpu.sh) measured the residual
# worse than the anchor where it had never been. The held-out sources decide, not the test split.
RESIDUAL_OFF = {"sar2optical-cpu": (
    "on leave-one-source-out (4 folds, `scripts/loso_cpu.sh`) the recipe's trained residual made "
    "the model worse than the better of the linear map and the constant on 3 of 4 held-out sources "
    "(WorldCereal +23 %, SEN12MS-CR +44 %, BigEarthNet +11 %; mean ratio 1.17), while its anchor "
    "alone was within 3 % of that on 3 of them (mean ratio 1.05, `scripts/loso_anchor.py` at commit "
    "`1f0156b`): on "
    "imagery from elsewhere the network's colours hurt. On this bundle's own test split, held-out "
    "acquisitions of its training sources, the residual did help (MAE 0.0310 vs 0.0336)"),
    "rgb2nir-wgangp-cpu": (
    "on leave-one-source-out (3 held-out sets, `scripts/loso_cpu.sh`: GeoEye-1, the IKONOS and "
    "WorldView 11-bit scenes, the EPFL camera photos) the recipe's trained residual was 12–17 % "
    "worse than its anchor alone on every one (MAE 30.49 vs 26.92, 423.3 vs 377.8, 48.58 vs 41.63 "
    "DN), while on the run's NAIP validation groups it was 5 % better and on its NAIP test date "
    "0.7 % (56.75 vs 57.15 DN): off NAIP, the network hurts")}
# More held-out sets scored on the shipped bundle (bandbridge evaluate --recipe R), in the card.
EXTRA_EVAL = {"sr-x4-cpu": ["sr_bsd100"]}
# Leave-one-source-out runs (scripts/loso_cpu.sh) whose tables go into the cards.
LOSO = {"rgb2nir-pix2pix-cpu": ["rgb2nir-s2", "rgb2nir-s2-levels"],
        "sar2optical-cpu": ["sar2optical"], "rgb2thermal-cpu": ["anchor-learner/rgb2thermal"],
        "rgb2nir-wgangp-cpu": ["rgb2nir-naip-vhr"]}


def split_counts(cfg) -> dict[str, dict[str, int]]:
    """{source: {split: number of files}} on the data the run was trained with."""
    from bandbridge.data.items import discover
    counts: dict[str, dict[str, int]] = {}
    for split, items in discover(cfg.data).items():
        for it in items:
            c = counts.setdefault(cfg.data.sources[it.source].name, {})
            c[split] = c.get(split, 0) + 1
    return counts


def loso_section(preset: str, loso_dir: Path | None) -> str:
    tables = [(d, loso_dir / d / "loso.md") for d in LOSO.get(preset, [])] if loso_dir else []
    tables = [(d, f) for d, f in tables if f.exists()]
    if not tables:
        return ""
    body = "\n\n".join(f"`{d}`:\n\n{f.read_text()}" for d, f in tables)
    return f"""
## Leave-one-source-out: what imagery from elsewhere gets

Each fold trains this preset on every source but the held-out one(s) and scores the held-out
source whole, next to baselines fitted on the same training sources (`scripts/loso_cpu.sh`;
every fold trained 6 epochs, `--set train.max_epochs=6 --set train.threads=1`):

{body}"""


def selection(summary: dict) -> str:
    """How ``best`` was chosen: by the worst validation source (or group of one source) when the
    run had two or more."""
    return ("the epoch whose worst validation group is best relative to the anchor "
            "(`val/worst_ratio`)" if summary.get("groups") else "the epoch with the best validation PSNR")


def anchor_line(b) -> str:
    """Which closed-form fit the generator is anchored to, and by which rule it was chosen."""
    a = (b.info.get("baseline") or {}).get("anchor")
    if not a:
        return ""
    if a.get("kind") == "learner":  # anchor: learner — the learner-selection core's choice
        oof = a.get("oof_mae") or {}
        return (f"The anchor is the {a['chosen']} learner, {a['rule']} (out-of-fold MAE, model units: "
                + ", ".join(f"{k} {v:.4f}" for k, v in oof.items()) + ").\n")
    how = {"leave-one-source-out": "by leave-one-source-out across the training sources (score: the "
                                   "worst held-out source relative to the better of linear and constant)",
           "validation": "on the validation split (score: MAE)"}.get(
               a.get("rule") or ("validation" if "val_mae" in a else ""), "by default")
    if "val_mae" in a:  # bundled before the rule existed: validation decided, whatever the sources
        how += ", the rule before leave-one-source-out"
    chosen = a.get("penalty", a["chosen"])  # the record's candidate name; 0.1.0's the key alone
    pick = chosen if chosen in ("linear", "mean") else f"ridge λ {chosen}"
    scores = a.get("scores") or a.get("val_mae") or {}
    return (f"The anchor is the {pick} fit, chosen {how}"
            + (f": {', '.join(f'{k} {v:.3f}' for k, v in scores.items())}" if scores else "") + ".\n")


def residual_line(preset: str) -> str:
    """Why a bundle ships without its trained residual (``RESIDUAL_OFF``), or nothing."""
    return f"Why the residual is off: {RESIDUAL_OFF[preset]}.\n" if preset in RESIDUAL_OFF else ""


def groups_lines(summary: dict) -> str:
    """The per-group validation table of a run that selected by the worst group (a source, or a
    group of its one source: ``source/group``)."""
    g = summary.get("groups")
    if not g:
        return ""
    rows = "\n".join(f"| {k} | {v['anchor']:.4f} | {v['best']:.4f} | {v['ratio']:.3f} |" for k, v in g.items())
    return ("\nValidation L1 per held-out group (model units; ratio < 1: the best trained epoch beats the anchor there):\n\n"
            "| group | anchor | best epoch | ratio |\n|---|---|---|---|\n" + rows + "\n")


def card(name: str, preset: str, run: Path, b, loso_dir: Path | None = None) -> str:
    cfg = b.config
    counts = split_counts(cfg)
    summary = json.loads((run / "summary.json").read_text())
    start = json.loads((run / "val_start.json").read_text())
    table = evaluation_body(run / "eval" / "shipped")
    srcs = [s.name for s in cfg.data.sources]
    g = cfg.model.generator
    return f"""# {name}

{cfg.description}

- Task: {cfg.task.kind}{f" ×{cfg.task.scale}" if cfg.task.scale > 1 else ""}; input bands {cfg.data.sources[0].input.bands}
  ({cfg.data.sources[0].input.scaling}) → output {cfg.data.sources[0].target.bands} ({cfg.data.sources[0].target.scaling});
  values in [0, 1] model units.
- Generator: `{g.name}` {g.args} — {count_parameters(b.generator):,} parameters; weights stored as
  float16 safetensors (loaded as float32).
- Loss: {f"{cfg.loss.adversarial} (λ_adv {cfg.loss.lambda_adv}) + " if cfg.loss.lambda_adv else "no critic, "}L1 (λ {cfg.loss.lambda_l1}); {cfg.train.max_epochs} epochs of
  {cfg.data.samples_per_epoch} random {cfg.data.patch_size}² crops, batch {cfg.data.batch_size}.
- Inference: tiles of {cfg.inference.tile} px, overlap {cfg.inference.overlap} px (blended; sized by `benchmarks/overlap.py`, see the README). The precision gate's check sample (`check.safetensors`) is a validation tile.
{trust_lines(b)}
## Training data

{chr(10).join(f"- `{s}` ({', '.join(f'{n} {k}' for k, n in counts.get(s, {}).items())} files): "
               f"{ATTRIBUTION.get(s, 'see ../shared/data')}" for s in srcs)}

Splits are by file, date, scene or site (see `presets/recipes.yaml`); test data was never seen in
training or model selection.

## How it was made

```bash
bandbridge train --preset {preset} --data ../shared/data {EXTRA_ARGS.get(preset, '')}    # {SCRIPTS.get(preset, 'scripts/train_cpu_presets.sh')}
python scripts/bundle_models.py RUNS_DIR LOSO_DIR   # bundles, then evaluates the bundle itself:
bandbridge evaluate --model {name} --data ../shared/data --split test
```

Training time: {summary['fit_seconds'] / 60:.1f} min on a 2-core CPU ({'fp32' if summary['precision'] == '32' else summary['precision']}, {cfg.train.threads or 'all'} thread(s)),
{summary['global_step']} optimizer steps. Validation (model units) at the start{" (= the linear baseline the generator is anchored to)" if b.info.get("baseline") else ""}: L1 {start['l1']:.4f},
PSNR {start['psnr']:.2f} dB; at the end: L1 {summary['val_end']['val/l1']:.4f}, PSNR {summary['val_end']['val/psnr']:.2f} dB.
The bundle is {selection(summary) if preset not in RESIDUAL_OFF else "the anchor alone: the trained residual is switched off"} (epoch {b.info.get('epoch')}; −1 = the starting point).
{anchor_line(b)}{residual_line(preset)}{groups_lines(summary)}
## Evaluation of this bundle (float16 weights, as shipped) on the held-out test split, next to baselines

{table}{extra_evals(preset, run)}{loso_section(preset, loso_dir)}"""


def trust_lines(b) -> str:
    """The card's lines on the never-worse guard and the expected-error model, if it has them."""
    out = ""
    guard = b.config.model.generator.args.get("guard")
    if guard:
        out += (f"- Never-worse guard: the residual fades toward the anchor on images whose per-band "
                f"1st/99th percentiles lie outside those of its {guard['images']} training and "
                f"validation images (and their augmented copies) — kept whole up to "
                f"{guard['start']:g}, gone at {guard['end']:g} range-widths outside; predict says so.\n")
    conf = b.info.get("confidence")
    if conf:
        v = conf["validation"]
        out += (f"- Expected error (`predict --confidence`): fitted on the {conf['fitted_on']}; on "
                f"those pixels Spearman ρ {v['spearman']:.3f} with the real error, the worst-flagged "
                f"10 % carry {v['top10_share']:.1%} of it.\n")
    return out


def extra_evals(preset: str, run: Path) -> str:
    out = ""
    for r in EXTRA_EVAL.get(preset, []):
        table = evaluation_body(run / "eval" / f"shipped-{r}")
        out += f"\n### `{r}` (held out; `bandbridge evaluate --model NAME --recipe {r}`)\n\n{table}"
    return out


EVAL_HEADING = "## Evaluation of this bundle"


def evaluation_body(out: Path) -> str:
    """An evaluation folder's ``metrics.md`` below its title: the protocol and the table."""
    return (out / "metrics.md").read_text().split("\n", 2)[2]


def evaluate_shipped(name: str, preset: str, root: str, eval_dir: Path, zoo: Path = ZOO) -> None:
    """Score the shipped bundle ``name`` of ``zoo`` on its test split (``eval_dir/shipped``) and on
    its extra held-out sets (``eval_dir/shipped-<recipe>``): what its card's tables show."""
    from bandbridge.evaluation.evaluate import evaluate
    model = name if zoo.resolve() == ZOO.resolve() else str(zoo / name)  # a name is the package's zoo
    evaluate(model, root, "test", out_dir=eval_dir / "shipped")
    for r in EXTRA_EVAL.get(preset, []):
        evaluate(model, root, "test", [r], out_dir=eval_dir / f"shipped-{r}")


def preset_of(name: str) -> str:
    """The -cpu preset a bundled model's name was made from (``NAMES`` read backwards)."""
    return next(p for p, n in NAMES.items() if n == name)


def refresh_tables(name: str, data_root: str | None = None, done: Path | None = None,
                   zoo: Path = ZOO) -> None:
    """Re-evaluate the shipped bundle ``name`` and put the new protocol and tables into its card
    in place of the old ones (as :func:`card` writes them); weights and the rest untouched.
    ``done``: the folder of an evaluation of the shipped bundle on its test split already made
    (``benchmarks/bundle_results.py``'s ``runs/bundle-results/NAME``), used instead of a second one."""
    import tempfile
    folder = zoo / name
    preset = preset_of(name)
    with tempfile.TemporaryDirectory() as tmp:
        if done is not None and not EXTRA_EVAL.get(preset):
            sections = {EVAL_HEADING: evaluation_body(done)}
        else:
            evaluate_shipped(name, preset, data_root or load_bundle(folder).config.data.root, Path(tmp), zoo)
            sections = {EVAL_HEADING: evaluation_body(Path(tmp) / "shipped"),
                        **{f"### `{r}`": evaluation_body(Path(tmp) / f"shipped-{r}")
                           for r in EXTRA_EVAL.get(preset, [])}}
    lines = (folder / "MODEL_CARD.md").read_text().split("\n")
    for heading, body in sections.items():
        start = next(i for i, line in enumerate(lines) if line.startswith(heading))
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")),
                   len(lines))
        lines[start + 1:end] = ["", *body.strip("\n").split("\n"), ""]
    (folder / "MODEL_CARD.md").write_text("\n".join(lines))
    print(f"{name}: tables refreshed")


LOSO_HEADING = "## Leave-one-source-out"


def replace_loso(name: str, loso_dir: Path, zoo: Path = ZOO) -> None:
    """Put the leave-one-source-out tables of ``loso_dir`` into the shipped card of ``name`` in
    place of its old section (up to the next section, or at the card's end); weights and the
    rest untouched."""
    preset = preset_of(name)
    text = (zoo / name / "MODEL_CARD.md").read_text()
    section = loso_section(preset, loso_dir)
    if not section:
        print(f"{name}: no leave-one-source-out record in {loso_dir}")
        return
    head, _, rest = text.partition("\n" + LOSO_HEADING)
    after = rest.split("\n## ", 1)  # the sections written after it (learner selection, the floor)
    tail = "\n\n## " + after[1] if len(after) > 1 else "\n"
    (zoo / name / "MODEL_CARD.md").write_text(head.rstrip("\n") + "\n" + section.rstrip("\n") + tail)
    print(f"{name}: leave-one-source-out section replaced")


def main(runs_dir: str, loso_dir: str | None = None, only: list[str] | None = None,
         card_only: bool = False, zoo: Path = ZOO) -> None:
    for preset, name in NAMES.items():
        if only and name not in only:
            continue
        runs = [b for b in sorted((Path(runs_dir) / preset).glob("*/model/best"))
                if (b.parent.parent / "summary.json").exists()]  # finished runs only
        if not runs:
            print(f"skip {preset}: no run")
            continue
        best = runs[-1]
        run = best.parent.parent
        if card_only:  # the shipped bundle as it is; only its card is written again
            card_text = card(name, preset, run, load_bundle(zoo / name), Path(loso_dir) if loso_dir else None)
            (zoo / name / "MODEL_CARD.md").write_text(card_text)
            print(f"{name}: card rewritten")
            continue
        b = load_bundle(best)
        epoch, val_metrics = b.info.get("epoch"), b.info.get("val_metrics")
        if preset in RESIDUAL_OFF:  # the anchor alone, as validated at the start
            from bandbridge.models.anchor import zero_residual
            zero_residual(b.generator)
            epoch = -1
            val_metrics = {f"val/{k}": v for k, v in json.loads((run / "val_start.json").read_text()).items()}
        # Inference settings follow the current preset (they do not change the weights).
        # So do the descriptions (the preset may have been renamed or described better since).
        now = load_config(preset)
        b.config = b.config.model_copy(update={"inference": now.inference,
                                               "description": now.description})
        out = zoo / name
        save_bundle(out, b.generator, b.config, b.in_channels, b.out_channels,
                    weights_dtype=torch.float16, epoch=epoch,
                    val_metrics=val_metrics, bundled_from=preset,
                    **({"baseline": b.info["baseline"]} if b.info.get("baseline") else {}))
        # Where to trust it, on the shipped weights: the guard (runs older than guards get it
        # from their config's data) and the expected-error model on the validation split.
        from bandbridge.workflows.trust import add_confidence, fit_guard, write_guard
        if b.config.task.kind == "translation" and b.info.get("baseline"):
            if not b.config.model.generator.args.get("guard"):
                write_guard(out, fit_guard(out, b.config.data.root))
            add_confidence(out, data_root=b.config.data.root)
            b = load_bundle(out)
        # The precision gate's check sample: a validation tile, measured on the shipped weights.
        from bandbridge.evaluation.check_sample import make_check_sample
        make_check_sample(out, b.config.data.root)
        # The card's table is measured on the bundle that ships (float16 weights), not on the run.
        evaluate_shipped(name, preset, b.config.data.root, run / "eval", zoo)
        (out / "MODEL_CARD.md").write_text(card(name, preset, run, b, Path(loso_dir) if loso_dir else None))
        size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
        print(f"{name}: {size:.1f} MB")


def stamp_seen(name: str, root: str = "../shared/data", zoo: Path = ZOO) -> None:
    """Write ``inputs_seen`` (data/seen.py) into the zoo bundle ``name``: the values of its training
    split's inputs, read as training read them (bundles made before training recorded it)."""
    from bandbridge.bundle import edit_meta
    from bandbridge.data.datamodule import PairedDataModule
    from bandbridge.data.seen import from_pairs
    from bandbridge.evaluation.evaluate import with_data
    from bandbridge.spec import read_spec
    cfg = with_data(read_spec(zoo / name).config, root, None)
    seen = from_pairs(PairedDataModule(cfg).load_split("train"))
    edit_meta(zoo / name, lambda m: m.update(inputs_seen=seen))
    print(f"{name}: inputs_seen p1 {seen['p1']} p99 {seen['p99']} {seen['dtypes']} {seen['scalings']}")


def bundles_in(zoo: Path) -> list[str]:
    """The names of the bundles in ``zoo``."""
    return sorted(p.name for p in zoo.iterdir() if (p / "model.yaml").exists())


def cli(argv: list[str]) -> None:
    """The command line (the module's docstring), ``--zoo DIR`` anywhere in it."""
    zoo = ZOO
    if "--zoo" in argv:
        at = argv.index("--zoo")
        zoo, argv = Path(argv[at + 1]), argv[:at] + argv[at + 2:]
    if argv == ["--hash-zoo"]:
        for n in bundles_in(zoo):
            print(f"{n}: weights_sha256 {stamp_weights_hash(zoo / n)}")
        return
    if argv[:1] == ["--refresh-tables"]:
        for n in argv[1:] or [n for n in NAMES.values() if not n.startswith("sr-")]:
            refresh_tables(n, zoo=zoo)
        return
    if argv[:1] == ["--tables-from"]:  # DIR NAME ...: benchmarks/bundle_results.py's evaluations
        for n in argv[2:]:
            refresh_tables(n, done=Path(argv[1]) / n, zoo=zoo)
        return
    if argv[:1] == ["--stamp-seen"]:
        for n in argv[1:] or bundles_in(zoo):
            stamp_seen(n, zoo=zoo)
        return
    if argv[:1] == ["--loso-only"]:
        for n in argv[2:] or [NAMES[p] for p in LOSO]:
            replace_loso(n, Path(argv[1]), zoo)
        return
    # RUNS_DIR [LOSO_DIR|-] [NAME ...]: only the named models
    card_only = argv[:1] == ["--card-only"]  # after new leave-one-source-out tables
    args = argv[1:] if card_only else argv
    loso = args[1] if len(args) > 1 and args[1] != "-" else None
    main(args[0], loso, args[2:] or None, card_only, zoo)


if __name__ == "__main__":
    cli(sys.argv[1:])
