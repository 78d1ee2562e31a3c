"""What there is to use: the presets and the bundled models."""

from __future__ import annotations

from bandbridge.cli.app import out


def presets() -> None:
    """List the presets, one line each."""
    from bandbridge.presets import preset_dict, preset_names
    for name in preset_names():
        out.print(f"[bold]{name:24s}[/] {preset_dict(name).get('description', '')}", highlight=False)  # whole


def models() -> None:
    """List the bundled models (usable as --model NAME anywhere a model is taken)."""
    from bandbridge.spec import BUNDLE_META, ZOO_ALIASES, read_meta, zoo_models
    found = zoo_models()
    if not found:
        out.print("no bundled models in this installation")
    priors()
    for name, d in found.items():
        if name in ZOO_ALIASES:
            out.print(f"[bold]{name:14s}[/] {alias_rule(name)}", highlight=False)
            continue
        meta = read_meta(d / BUNDLE_META)
        cfg, mb = meta["config"], sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) / 1e6
        psnr = (meta.get("val_metrics") or {}).get("val/psnr")
        src = cfg["data"]["sources"][0]
        out.print(f"[bold]{name:14s}[/] {src['input'].get('bands')} → {src['target'].get('bands')}  "
                  f"{cfg['model']['generator']['name']}, {mb:.1f} MB" +
                  (f", val PSNR {psnr:.1f} dB" if psnr else "") + f"  ({d / 'MODEL_CARD.md'})",
                  highlight=False)


def priors() -> None:
    """The bundled sharpen priors: guides of ``sharpen -m NAME`` only (never a band a user is given)."""
    from bandbridge.inference.place.sharpen_model import prior_models
    from bandbridge.spec import BUNDLE_META, read_meta
    for name, d in prior_models().items():
        src = read_meta(d / BUNDLE_META)["config"]["data"]["sources"][0]
        out.print(f"[bold]{name:14s}[/] {src['input'].get('bands')} → {src['target'].get('bands')}  a sharpen prior: "
                  f"`bandbridge sharpen … -m {name}` takes its output as one more guide (not a model for predict)  "
                  f"({d / 'MODEL_CARD.md'})", highlight=False)


def alias_rule(name: str) -> str:
    """What a short name stands for: the routing rule (by the input's values) or its one model."""
    from bandbridge.bands import LEVEL_NAMES
    from bandbridge.inference.core.route import PHOTO
    from bandbridge.spec import LEVEL_FLOORS, ZOO_ALIASES, ZOO_ROUTES
    routes = ZOO_ROUTES.get(name)
    if not routes:
        return f"= {ZOO_ALIASES[name]}"
    said = {PHOTO: "8-bit without a coordinate system (a photo)"}
    levels = lambda model: "".join(f" ({LEVEL_NAMES[lv]} named so: {m})"  # noqa: E731
                                   for lv, m in LEVEL_FLOORS.get(model, {}).items())
    return "picks by the input's values: " + "; ".join(
        f"{said.get(family, family)} → {model}{levels(model)}" for family, model in routes.items()) + \
        f" (adapt, evaluate and export take {ZOO_ALIASES[name]})"
