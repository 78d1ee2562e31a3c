"""What there is to use: the presets and the bundled models."""

from __future__ import annotations

from bandbridge.cli.app import out


def presets() -> None:
    """List the presets, one line each."""
    from bandbridge.config import preset_dict, preset_names
    for name in preset_names():
        out.print(f"[bold]{name:24s}[/] {preset_dict(name).get('description', '')}", highlight=False,
                  no_wrap=True, overflow="ellipsis")


def models() -> None:
    """List the bundled models (usable as --model NAME anywhere a model is taken)."""
    import yaml
    from bandbridge.spec import ZOO_ALIASES, zoo_models
    found = zoo_models()
    if not found:
        out.print("no bundled models in this installation")
    for name, d in found.items():
        if name in ZOO_ALIASES:
            out.print(f"[bold]{name:14s}[/] = {ZOO_ALIASES[name]}", highlight=False)
            continue
        meta = yaml.safe_load((d / "model.yaml").read_text())
        cfg, mb = meta["config"], sum(f.stat().st_size for f in d.iterdir()) / 1e6
        psnr = (meta.get("val_metrics") or {}).get("val/psnr")
        src = cfg["data"]["sources"][0]
        out.print(f"[bold]{name:14s}[/] {src['input'].get('bands')} → {src['target'].get('bands')}  "
                  f"{cfg['model']['generator']['name']}, {mb:.1f} MB" +
                  (f", val PSNR {psnr:.1f} dB" if psnr else "") + f"  ({d / 'MODEL_CARD.md'})",
                  highlight=False)
