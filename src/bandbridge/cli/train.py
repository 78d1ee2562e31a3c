"""Training workflows: one run (train), and a run per held-out source, each scored (loso)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Optional

import typer

from bandbridge.cli.app import fail, out, renamed
from bandbridge.cli.options import flag_groups
from bandbridge.cli.progress import bars


@dataclass(frozen=True)
class LightningFlags:
    """Where ``train`` runs: Lightning's devices, accelerator, strategy and nodes, each a ``train.`` override."""
    devices: Annotated[Optional[str], typer.Option("--devices", help="Lightning devices (e.g. 2, auto)")] = None
    accelerator: Annotated[Optional[str], typer.Option("--accelerator", help="cpu, gpu, auto")] = None
    strategy: Annotated[Optional[str], typer.Option("--strategy", help="Lightning strategy (ddp, ...)")] = None
    num_nodes: Annotated[Optional[int], typer.Option("--num-nodes", help="nodes for multi-node DDP")] = None

    def overrides(self) -> list[str]:
        """``train.KEY=VALUE`` of each flag given, as ``--set`` would write it."""
        return [f"train.{f.name}={v}" for f in fields(self) if (v := getattr(self, f.name)) is not None]


@dataclass(frozen=True)
class PairFlags:
    """How ``adapt`` reads its pairs' bands: which, their names, their scaling and sensor."""
    bands: Annotated[Optional[str], typer.Option("--bands", help="input bands in the model's order (names, roles or 0-based indices), e.g. red,green,blue")] = None
    target_bands: Annotated[Optional[str], typer.Option("--target-bands", help="target bands, e.g. nir")] = None
    scaling: Annotated[Optional[str], typer.Option("--scaling", help="input and target scaling (e.g. uint8, reflectance_10000)")] = None
    sensor: Annotated[Optional[str], typer.Option("--sensor", help="the files' sensor, to name their bands (e.g. landsat8, s2_l2a, naip)")] = None
    band_names: Annotated[Optional[str], typer.Option("--band-names", help="one name per band of each input file (FILE or IN), e.g. red,green,blue,nir")] = None

    def as_bands(self) -> dict:
        """``workflows/adapt.adapt``'s ``bands``: the input's and the target's selection, names and scaling."""
        def sel(b):
            return None if b is None else [int(v) if v.strip().isdigit() else v.strip() for v in b.split(",")]
        common = {"scaling": self.scaling, "sensor": self.sensor}
        names = None if self.band_names is None else [v.strip() for v in self.band_names.split(",")]
        return {"input": {"bands": sel(self.bands), "band_names": names, **common},
                "target": {"bands": sel(self.target_bands), **common}}


@flag_groups
def train(
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="preset name (see `bandbridge presets`)"),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config file (may set `base: PRESET`)"),
    data: Optional[str] = typer.Option(None, "--data", help="data root the sources' paths are relative to"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override, e.g. --set train.max_epochs=5"),
    resume: Optional[str] = typer.Option(None, "--resume", help="continue a run folder exactly"),
    init_from: Optional[str] = typer.Option(None, "--init-from", help="fine-tune from a .ckpt or model bundle"),
    runs: str = typer.Option("runs", "--runs", help="folder for runs/<name>/<timestamp>"),
    lightning: LightningFlags = LightningFlags(),
    within_scene: bool = typer.Option(False, "--within-scene", help="the training scenes are the ones you will predict: when validation cannot see other scenes (one group of near-copies), model/best may still be the network or any learner (else the constant or linear map)"),
) -> None:
    """Train a model (a GAN residual on a small-data learner, or a super-resolution network); writes runs/<name>/<timestamp>/ (config, checkpoints, TensorBoard, model)."""
    from bandbridge.config import apply_overrides, build_config, load_config
    from bandbridge.workflows import runner
    from bandbridge.workflows.start import find_checkpoint, load_checkpoint
    from bandbridge.workflows.finish import summary_line
    extra = lightning.overrides() + (["train.within_scene=true"] if within_scene else [])
    if resume:
        if preset or config:
            fail("--resume continues a run with its own config; drop --preset/--config "
                  "(use --set to change e.g. train.max_epochs)")
        d = load_checkpoint(find_checkpoint(resume))["hyper_parameters"]["config"]
        if data:
            d = apply_overrides(d, [f"data.root={data}"])
        cfg = build_config(apply_overrides(d, [*extra, *set_]))
    else:
        cfg = load_config(preset, config, [*extra, *set_], data)
    run_dir = runner.train(cfg, runs, resume=resume, init_from=init_from)
    out.print(summary_line(run_dir), highlight=False)
    out.print(f"run folder: {run_dir}")


def loso(
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="preset to train in every fold"),
    recipes: str = typer.Option(..., "--recipes", help="comma-separated data recipes (one fold each)"),
    fold: list[str] = typer.Option([], "--fold", help="NAME=HELD,OUT or NAME=TRAIN,…>HELD,… (instead of one per recipe)"),
    data: Optional[str] = typer.Option(None, "--data", help="data root"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override for every fold's training"),
    out_dir: Optional[str] = typer.Option(None, "--output", "-o", help="folder for runs/, folds/ and loso.md/.csv/.json"),
    shots: Optional[int] = typer.Option(None, "--shots", help="instead: adapt --model to each source with K of its images (or rows of one scene), score the rest"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="--shots: the model to adapt"),
    minutes: float = typer.Option(2.0, "--minutes", help="--shots: minutes per fine-tune (adapted and from scratch)"),
    old_out: Optional[str] = typer.Option(None, "--out", hidden=True),
) -> None:
    """Leave-one-source-out: train without each source, score it next to the baselines."""
    out_dir = renamed(out_dir, old_out, "-o", "--out", "bandbridge loso")
    if out_dir is None:
        fail("bandbridge loso: no output folder; give one with -o (runs/, folds/ and the tables go there)")
    names = [r.strip() for r in recipes.split(",") if r.strip()]
    if shots is not None:
        from bandbridge.workflows.shots import run_shots
        if not model:
            fail("--shots adapts a model: give --model (a bundled model name, run or bundle)")
        for flag, given in (("--preset", preset), ("--fold", fold), ("--set", set_)):
            if given:
                fail(f"{flag} trains leave-one-source-out folds; --shots adapts --model instead: "
                     f"drop {flag} or --shots")
        with bars() as add:
            summary = run_shots(model, names, shots, out_dir, data, minutes, progress=add)
        typer.echo((Path(out_dir) / "shots.md").read_text())
        if not any(f["methods"] for f in summary["folds"]):
            fail(f"--shots: no source was scored (see {Path(out_dir) / 'shots.md'}); check --data "
                 "and --recipes")
        return
    if model:
        fail("--model is for --shots K (adapting a model); leave-one-source-out trains --preset")
    if not preset:
        fail("--preset: give the preset every fold trains (or --shots K with --model)")
    from bandbridge.workflows.loso import run_loso
    with bars() as add:
        summary = run_loso(preset, names, out_dir, data, set_, fold, progress=add)
    typer.echo((Path(out_dir) / "loso.md").read_text())
    out.print(f"{len(summary['folds'])} folds written to {out_dir}")


@flag_groups
def adapt(
    pairs: list[str] = typer.Argument(..., help="FILE (input and target bands), IN:TARGET files or IN_DIR:TARGET_DIR folders", show_default=False),
    model: str = typer.Option(..., "--model", "-m", help="bundled model name, run folder or bundle to adapt"),
    output: str = typer.Option(..., "--output", "-o", help="folder for the adapted bundle"),
    minutes: float = typer.Option(5.0, "--minutes", help="bound on the learners' search in reference minutes, the same on any machine (candidates past it are skipped; the constant and linear map always run)"),
    region: Optional[str] = typer.Option(None, "--region", help="use only this band of each pair: rows:START:END or cols:START:END (fractions)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --output"),
    reading: PairFlags = PairFlags(),
    within_scene: bool = typer.Option(False, "--within-scene", help="the pairs are part of the scenes you will predict: with one group of images, held-out blocks of them may still choose any learner (else the constant or linear map)"),
    reference: Optional[str] = typer.Option(None, "--reference", help="pairs for free: a coarse raster of the target band over the images given (Sentinel-2, Landsat): the model is adapted to the images averaged onto its grid, against it"),
) -> None:
    """Re-calibrate a model to your own pairs: the best small-data learner by spatial cross-validation, refitted on every pixel, or the model as it was when it scores better."""
    from bandbridge.workflows.adapt import adapt as run
    with bars() as add:
        res = run(model, pairs, output, minutes, region, overwrite, bands=reading.as_bands(),
                  within_scene=within_scene, progress=add, say=lambda line: out.print(line, highlight=False),
                  reference=reference)
    typer.echo(res["card"])
    out.print(f"adapted model written to {output} (its MODEL_CARD.md holds this table)")
