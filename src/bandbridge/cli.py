"""The ``bandbridge`` command: parses, calls one function, prints."""

from __future__ import annotations

import sys
from typing import Optional

import typer
from rich.console import Console

from bandbridge.errors import BandbridgeError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Translate imagery across sensors with conditional GANs.")
err = Console(stderr=True)
out = Console()


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def presets() -> None:
    """List the presets, one line each."""
    from bandbridge.config import preset_dict, preset_names
    for name in preset_names():
        out.print(f"[bold]{name:24s}[/] {preset_dict(name).get('description', '')}", highlight=False,
                  no_wrap=True, overflow="ellipsis")


@app.command()
def train(
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="preset name (see `bandbridge presets`)"),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config file (may set `base: PRESET`)"),
    data: Optional[str] = typer.Option(None, "--data", help="data root the sources' paths are relative to"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override, e.g. --set train.max_epochs=5"),
    resume: Optional[str] = typer.Option(None, "--resume", help="continue a run folder exactly"),
    init_from: Optional[str] = typer.Option(None, "--init-from", help="fine-tune from a .ckpt or model bundle"),
    runs: str = typer.Option("runs", "--runs", help="folder for runs/<name>/<timestamp>"),
    devices: Optional[str] = typer.Option(None, "--devices", help="Lightning devices (e.g. 2, auto)"),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="cpu, gpu, auto"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Lightning strategy (ddp, ...)"),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes", help="nodes for multi-node DDP"),
) -> None:
    """Train a conditional GAN; writes runs/<name>/<timestamp>/ (config, checkpoints, TensorBoard, model)."""
    from bandbridge.config import apply_overrides, build_config, load_config
    from bandbridge import runner
    extra = [f"train.{k}={v}" for k, v in (("devices", devices), ("accelerator", accelerator),
                                           ("strategy", strategy), ("num_nodes", num_nodes))
             if v is not None]
    if resume:
        if preset or config:
            _fail("--resume continues a run with its own config; drop --preset/--config "
                  "(use --set to change e.g. train.max_epochs)")
        d = runner.run_config_for_resume(resume)
        if data:
            d = apply_overrides(d, [f"data.root={data}"])
        cfg = build_config(apply_overrides(d, [*extra, *set_]))
    else:
        cfg = load_config(preset, config, [*extra, *set_], data)
    run_dir = runner.train(cfg, runs, resume=resume, init_from=init_from)
    out.print(f"run folder: {run_dir}")


@app.command()
def evaluate(
    model: str = typer.Option(..., "--model", "-m", help="run folder, model bundle or .ckpt"),
    data: Optional[str] = typer.Option(None, "--data", help="data root (default: the model's)"),
    split: str = typer.Option("test", "--split", help="train, val or test"),
    recipe: list[str] = typer.Option([], "--recipe", help="evaluate on these data recipes instead (cross-sensor)"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="folder for per_image.csv, summary.json, metrics.md"),
    fid_weights: Optional[str] = typer.Option(None, "--fid-weights", help="local FID Inception weights (pt_inception-2015-12-05-6726825d.pth)"),
) -> None:
    """Score a model and its baselines on a held-out split; prints the table."""
    from pathlib import Path
    from bandbridge.evaluation.evaluate import evaluate as run
    if out_dir is None:
        p = Path(model)
        out_dir = str((p if (p / "model").is_dir() else Path("runs") / "eval") / "eval" / split)
    res = run(model, data, split, recipe or None, out_dir, fid_weights)
    out.print(res.table, highlight=False)
    out.print(f"written to {out_dir}")


@app.command()
def report(
    run_dir: str = typer.Argument(..., help="run folder (runs/<name>/<timestamp>)"),
    data: Optional[str] = typer.Option(None, "--data", help="data root (default: the run's)"),
    split: str = typer.Option("test", "--split"),
    fid_weights: Optional[str] = typer.Option(None, "--fid-weights"),
) -> None:
    """Write report.md and report.html for a run: loss curves, metrics with baselines, sample grids."""
    from bandbridge.evaluation.report import write_report
    path = write_report(run_dir, data, split, fid_weights)
    out.print(f"report: {path}")


def main() -> None:
    try:
        app()
    except BandbridgeError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
