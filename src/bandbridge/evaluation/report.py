"""`bandbridge report RUN`: Markdown + HTML with loss curves, the metric table with baselines,
and per-sample comparison grids (input, target, prediction, |error|; for NIR targets real vs
predicted NDVI on one colour scale), drawn with matplotlib."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from bandbridge.bands import find_role, is_single_nir, ndvi
from bandbridge.fileio import atomic_write_bytes
from bandbridge.errors import BandbridgeError
from bandbridge.evaluation.evaluate import EvalResult, evaluate

CURVES = (("train/loss_d", "critic loss"), ("train/loss_g", "generator loss"),
          ("train/l1", "train L1"), ("val/l1", "val L1"), ("val/psnr", "val PSNR (dB)"),
          ("val/ndvi_mae", "val NDVI MAE"))


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise BandbridgeError("reports need matplotlib: pip install 'bandbridge[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(scalars: dict, path: Path) -> None:
    plt = _plt()
    tags = [(t, n) for t, n in CURVES if t in scalars]
    fig, axes = plt.subplots(1, len(tags), figsize=(3.2 * len(tags), 2.8), squeeze=False)
    for ax, (t, n) in zip(axes[0], tags):
        s, v = zip(*scalars[t])
        ax.plot(s, v, lw=1)
        ax.set_title(n, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _show(t) -> np.ndarray:
    a = t.detach().float().cpu().numpy()
    a = a[:3].transpose(1, 2, 0) if a.shape[0] >= 3 else a[0]
    return np.clip(a, 0, 1)


def plot_sample(sample: dict, path: Path, units: str, data_range: float) -> None:
    """One row per method: condition | target | prediction | |error|, plus NDVI for NIR. Every
    row's |error| shares one colour scale (0 to the 99th percentile of all rows' errors over
    valid pixels) in the target's units (``data_range`` of them = model value 1), so rows
    compare at a glance; NDVI shares −1…1."""
    plt = _plt()
    pair, preds = sample["pair"], sample["preds"]
    src = pair.source
    in_names = [str(b) for b in (src.input.bands or [])]
    tb = [str(b) for b in (src.target.bands or [])]
    red = find_role(in_names, "red") if is_single_nir(tb) else None
    cols = 4 + (2 if red is not None else 0)
    fig, axes = plt.subplots(len(preds), cols, figsize=(2.3 * cols + 0.8, 2.4 * len(preds)), squeeze=False)
    m = pair.mask[0].numpy()
    errs = {k: np.abs(p - pair.y).mean(0).numpy() * data_range * m for k, p in preds.items()}
    top = max(float(np.percentile(np.concatenate([e[m] for e in errs.values()]), 99)) if m.any() else 0.0,
              1e-6)
    for row, (method, pred) in zip(axes, preds.items()):
        panels = [(_show(pair.x), "input"), (_show(pair.y), "target"), (_show(pred), method)]
        for ax, (img, title) in zip(row, panels):
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0 if img.ndim == 2 else None,
                      vmax=1 if img.ndim == 2 else None)
            ax.set_title(title, fontsize=8)
        err_im = row[3].imshow(errs[method], cmap="magma", vmin=0, vmax=top)
        row[3].set_title("|error|", fontsize=8)
        if red is not None:
            for ax, nir, title in ((row[4], pair.y, "NDVI real"), (row[5], pred, f"NDVI {method}")):
                nv = np.where(m, ndvi(pair.x[red], nir[0]).numpy(), np.nan)
                nv_im = ax.imshow(nv, cmap="RdYlGn", vmin=-1, vmax=1)  # one shared scale
                ax.set_title(title, fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    # One colour bar per scale, for the whole figure: the same in every row.
    fig.colorbar(err_im, ax=axes[:, 3].tolist(), fraction=0.046, label=f"|error| ({units}, all rows)")
    if red is not None:
        fig.colorbar(nv_im, ax=axes[:, 4:6].ravel().tolist(), fraction=0.046, label="NDVI (all panels)")
    fig.suptitle(pair.item.id, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report_target(model: str | Path, out_dir: str | Path | None = None) -> tuple[Path, Path, str, Path | None]:
    """``(model, report folder, title, run folder or None)`` for a run folder, one of its
    bundles, a bundle or a bundled model's name: a run's report goes in ``RUN/report``, any
    other in ``reports/<name>`` (or ``out_dir``)."""
    from bandbridge.spec import resolve_model_folder
    p = Path(model)
    if (p / "config.yaml").exists():
        run = p
    else:
        try:
            folder = resolve_model_folder(model)
        except BandbridgeError:
            raise BandbridgeError(f"{model}: report takes a run folder (runs/<name>/<time>), a model "
                                  "bundle or a bundled model's name (see `bandbridge models`)") from None
        run = folder.parent.parent if (folder.parent.parent / "config.yaml").exists() else None
        if run is None:
            out = Path(out_dir) if out_dir else Path("reports") / folder.name
            return folder, out, folder.name, None
    out = Path(out_dir) if out_dir else run / "report"
    return run, out, f"{run.parent.name} / {run.name}", run


def write_report(model: str | Path, data_root: str | None = None, split: str = "test",
                 fid_weights: str | None = None, out_dir: str | Path | None = None) -> Path:
    """report.md and report.html (with their figures) of ``model`` on ``split``; returns the
    Markdown's path. Loss curves only for a run (they come from its TensorBoard events)."""
    src, out, title, run = report_target(model, out_dir)
    res: EvalResult = evaluate(src, data_root, split, None, out / "eval", fid_weights)
    out.mkdir(parents=True, exist_ok=True)  # after the model and data are taken: a refusal leaves no folder
    proto = res.summary["protocol"]
    figs = []
    if run is not None and (run / "tensorboard").exists():
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        ea = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0}).Reload()
        plot_curves({t: [(e.step, e.value) for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}, out / "curves.png")
        figs.append(("Training curves", "curves.png"))
    for k, s in enumerate(res.samples):
        name = f"sample_{k}.png"
        plot_sample(s, out / name, proto["target_units"], proto["data_range"])
        figs.append((s["pair"].item.id, name))
    md = [f"# Report: {title}", "", "## Protocol", "",
          *[f"- {k}: {v}" for k, v in proto.items() if v is not None], "", "## Metrics", "",
          units_line(proto), "", res.table, "## Figures", ""]
    md += [f"### {t}\n\n![{t}]({f})\n" for t, f in figs]
    atomic_write_bytes(out / "report.md", "\n".join(md).encode())
    atomic_write_bytes(out / "report.html", _html(title, proto, res.table, figs).encode())
    return out / "report.md"


def units_line(proto: dict) -> str:
    """What the table's numbers are in."""
    return (f"MAE and RMSE in {proto['target_units']} (data range {proto['data_range']:g}); PSNR in dB; "
            "SSIM, R², Pearson r and index errors unitless; SAM in degrees. n/a: undefined for "
            "this pair (e.g. a correlation with a constant image).")


def _html(title: str, proto: dict, table_md: str, figs: list) -> str:
    rows = [r for r in table_md.splitlines() if r.startswith("|") and not r.startswith("|---")]
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in cells[1:])
    items = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in proto.items() if v is not None)
    imgs = "".join(f"<h3>{html.escape(t)}</h3><img src='{f}' style='max-width:100%'>" for t, f in figs)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>bandbridge report</title>"
            f"<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:3px 8px;"
            f"text-align:right}}table{{border-collapse:collapse}}</style></head><body>"
            f"<h1>Report: {html.escape(title)}</h1><h2>Protocol</h2>"
            f"<ul>{items}</ul><h2>Metrics</h2><p>{html.escape(units_line(proto))}</p>"
            f"<table><tr>{head}</tr>{body}</table>"
            f"<p>gain &gt; 0: the model is better; error metrics are negated</p><h2>Figures</h2>{imgs}"
            f"</body></html>")
