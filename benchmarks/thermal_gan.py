"""A pix2pix thermal GAN on the four RGB→thermal sources, held out by source (issue 60).

    python benchmarks/thermal_gan.py --data ../shared/data --out OUT [--epochs E | --budget-s S]
        [--lambdas 10,40] [--holds roadscene,tno,m3svd,msrs,all] [--device cuda]
        [--crop 256 --ngf 16 --depth 8 --ndf 64] [--deadline-s S]
    python benchmarks/thermal_gan.py --data ../shared/data --out OUT --resume [--deadline-s S]
    python benchmarks/thermal_gan.py --data ../shared/data --out OUT --progress   # the curves so far
    python benchmarks/thermal_gan.py --data ../shared/data --out OUT --levels [--score-model rgb2thermal]

One process per (λ, held-out source) runs concurrently: a U-Net (by default ngf 16, depth 8,
batch norm, bilinear upsampling; the bundles' network) and a PatchGAN (70×70, ndf 64) trained
with LSGAN plus λ × a shift-tolerant L1 (the least L1 over shifts of the target by up to 2
pixels: MSRS pairs are registered to 2–5 pixels), on crops balanced by source, flipped, with the
visible input's exposure (×0.05…×1.5), gamma and noise varied (the heat does not change with the
light). The schedule is pix2pix's (Adam 2e-4, β 0.5; the learning rate constant for half the
epochs, then linearly to 0), so the last epoch is the one scored: no epoch is chosen on a
held-out source. On a CPU, ``--crop 128 --depth 7 --ndf 32`` costs a tenth of a step.

Every ``eval`` epochs each fold scores its held-out source (every image, whole): MAE in DN, the
realism measures of ``bandbridge.realism`` (SWD on up to 24 images, contrast ratio, Pearson r)
and the flat image of the training targets' mean beside it. ``--budget-s`` (no ``--epochs``)
times the first steps of all processes together and sets E to fit the budget (a device lease).
Every epoch each run saves its whole state in ``OUT/state/`` (weights, Adam's moments, random
states, curve); ``--resume`` continues every run from there with the first session's settings
(``OUT/run.json``): on a CPU bit for bit as one uninterrupted run (on a GPU as far as its
kernels are deterministic), so hundreds of epochs can span leases and sessions; ``--deadline-s`` stops where a lease ends. Writes
``OUT/curves.json`` and the generators (float16 safetensors, keys ``<λ>/<hold>/…``).
``--levels`` then asks how much of each finished generator's held-out error is the display
level (the mean DN a camera renders heat at), beside the floor's and a flat frame's.

The images are read with PIL as 8-bit values / 255 — what bandbridge's reader gives for these
8-bit JPEG/PNG files (``scaling: uint8``); TNO's grey visible is repeated into three bands, as its
recipe says (``bands: [0, 0, 0]``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bandbridge.losses.adversarial import lsgan_d, lsgan_g
from bandbridge.models.patchgan import PatchGAN
from bandbridge.models.unet import UNet
from bandbridge.realism import contrast_ratio, pearson_r, realism, sliced_wasserstein

SOURCES = {  # name: (input folder, target folder) under the data root; same file names
    "roadscene": ("thermal_roadscene/crop_LR_visible", "thermal_roadscene/cropinfrared"),
    "tno": ("thermal_tno/visible", "thermal_tno/lwir"),
    "m3svd": ("thermal_m3svd/vi", "thermal_m3svd/ir"),
    "msrs": ("thermal_msrs/vi", "thermal_msrs/ir"),
}
BATCH, SHIFT, SWD_IMAGES = 16, 2, 24


def load_source(root: Path, name: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(input (3, H, W), target (1, H, W)) float32 in [0, 1] for every pair of a source."""
    from PIL import Image
    a, b = SOURCES[name]
    out = []
    for f in sorted((root / a).iterdir()):
        t = root / b / f.name
        if not t.exists():
            continue
        x = np.asarray(Image.open(f).convert("RGB"), np.float32) / 255
        y = np.asarray(Image.open(t).convert("L"), np.float32) / 255
        out.append((torch.from_numpy(x).permute(2, 0, 1).contiguous(), torch.from_numpy(y)[None]))
    return out


def shift_tolerant_l1(fake: torch.Tensor, real: torch.Tensor, s: int = SHIFT) -> torch.Tensor:
    """Mean over the batch of the least mean |fake − real shifted| over shifts |dy|, |dx| ≤ s,
    on the crop's interior (s pixels in from each side)."""
    h, w = fake.shape[-2:]
    inner = fake[..., s:h - s, s:w - s]
    errs = [(inner - real[..., s + dy:h - s + dy, s + dx:w - s + dx]).abs().flatten(1).mean(1)
            for dy in range(-s, s + 1) for dx in range(-s, s + 1)]
    return torch.stack(errs, 1).min(1).values.mean()


def crops(pairs, weights, g: torch.Generator, dev, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of ``crop``² crops (input, target) on ``dev``: source by weight, image uniformly, a
    random window, flipped left-right half the time (images were enlarged to ``crop`` a side)."""
    xs, ys = [], []
    idx = torch.multinomial(weights, BATCH, True, generator=g)
    for k in idx.tolist():
        x, y = pairs[k]
        h, w = x.shape[-2:]
        r = int(torch.randint(h - crop + 1, (1,), generator=g))
        c = int(torch.randint(w - crop + 1, (1,), generator=g))
        xc, yc = x[:, r:r + crop, c:c + crop], y[:, r:r + crop, c:c + crop]
        if torch.rand(1, generator=g) < 0.5:
            xc, yc = xc.flip(-1), yc.flip(-1)
        xs.append(xc)
        ys.append(yc)
    x, y = torch.stack(xs).to(dev), torch.stack(ys).to(dev)
    # the visible exposure, display gamma and sensor noise vary; the heat does not
    e = torch.exp(torch.empty(BATCH, 1, 1, 1).uniform_(np.log(0.05), np.log(1.5), generator=g)).to(dev)
    gam = torch.exp(torch.empty(BATCH, 1, 1, 1).uniform_(-0.3, 0.3, generator=g)).to(dev)
    noise = 0.01 * torch.randn(x.shape, generator=g).to(dev)
    return ((x * e).clamp(0, 1) ** gam + noise).clamp(0, 1), y


def enlarge(x: torch.Tensor, y: torch.Tensor, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = x.shape[-2:]
    if min(h, w) >= crop:
        return x, y
    f = crop / min(h, w)
    size = (max(crop, round(h * f)), max(crop, round(w * f)))
    up = lambda t: F.interpolate(t[None], size=size, mode="bilinear", align_corners=False)[0]
    return up(x), up(y)


@torch.no_grad()
def predict_8bit(G, x: torch.Tensor, dev) -> torch.Tensor:
    """G's output for one input (3, H, W) as the 8-bit file a user gets: (1, H, W) on the CPU,
    whole DN / 255."""
    with torch.autocast(dev.type, torch.bfloat16, enabled=dev.type == "cuda"):
        p = G(x[None].to(dev)).float()[0].clamp(0, 1).cpu()
    return torch.round(p * 255) / 255


@torch.no_grad()
def score(G, pairs, dev, flat_value: float) -> dict:
    """Held-out scores of G on whole images: MAE (DN), SWD/contrast/r, and the flat image's."""
    G.eval()
    torch.backends.cudnn.benchmark = False  # whole images of many sizes: no per-size search
    preds, reals, mae, mae_flat = [], [], [], []
    for x, y in pairs:
        p = predict_8bit(G, x, dev)
        preds.append(p)
        reals.append(y)
        mae.append(float((p - y).abs().mean()) * 255)
        mae_flat.append(float((y - flat_value).abs().mean()) * 255)
    G.train()
    torch.backends.cudnn.benchmark = True
    k = np.linspace(0, len(pairs) - 1, min(SWD_IMAGES, len(pairs))).round().astype(int)
    out = {"mae_dn": float(np.mean(mae)), "flat_mae_dn": float(np.mean(mae_flat))}
    sub = [reals[i].to(dev) for i in k]
    out.update(sliced_wasserstein([preds[i].to(dev) for i in k], sub))  # a subset: SWD's cost
    # contrast and r over every image
    out["contrast"] = float(np.nanmean([contrast_ratio(p, y) for p, y in zip(preds, reals)]))
    out["r"] = float(np.nanmean([pearson_r(p, y) for p, y in zip(preds, reals)]))
    return out


def save_state(path: Path, nets, step: int, curve: list, logs: list, seconds: float) -> None:
    """Everything the next step depends on (exact resume): both networks, Adam's moments, the
    crop sampler's and torch's random states, the step, the curve so far; written whole or not
    at all (temp file, then rename)."""
    G, D, og, od, g = nets
    tmp = path.with_suffix(".tmp")
    torch.save({"G": G.state_dict(), "D": D.state_dict(), "og": og.state_dict(), "od": od.state_dict(),
                "sampler": g.get_state(), "torch": torch.get_rng_state(), "step": step,
                "curve": curve, "logs": logs, "seconds": seconds}, tmp)
    os.replace(tmp, path)


def load_state(path: Path, nets) -> dict:
    """Put a saved state back into ``nets``; returns the rest (step, curve, logs, seconds).
    Tensors and plain values only: nothing is unpickled."""
    G, D, og, od, g = nets
    st = torch.load(path, map_location="cpu", weights_only=True)  # random states stay CPU tensors
    G.load_state_dict(st.pop("G"))
    D.load_state_dict(st.pop("D"))
    og.load_state_dict(st.pop("og"))
    od.load_state_dict(st.pop("od"))
    g.set_state(st.pop("sampler"))
    torch.set_rng_state(st.pop("torch"))
    return st


def train_one(args: dict, q) -> None:
    """One (λ, hold) run; reports ``("rate", s/step)`` after the timed steps, waits for E, trains,
    saving its state every epoch (``args["state"]``: continued from there when it exists),
    writes its curve and generator."""
    torch.set_num_threads(args["threads"])
    dev = torch.device(args["device"])
    torch.backends.cudnn.benchmark = True
    lam, hold, root, crop = args["lam"], args["hold"], Path(args["data"]), args["crop"]
    data = {n: load_source(root, n) for n in args["sources"]}
    train_names = [n for n in data if n != hold]
    pairs, weights = [], []
    for n in train_names:
        for x, y in data[n]:
            pairs.append(enlarge(x, y, crop))
            weights.append(1.0 / len(data[n]))  # each source a quarter (a third) of the crops
    weights = torch.tensor(weights)
    flat_value = float(torch.cat([y.flatten() for n in train_names for _, y in data[n]]).mean())
    held = data.get(hold, [])
    torch.manual_seed(args["seed"])
    G = UNet(3, 1, **args["generator"]).to(dev)
    D = PatchGAN(4, **args["critic"]).to(dev)
    og = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(args["seed"] + 17)
    nets = (G, D, og, od, g)
    ac = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")

    def step() -> dict:
        x, y = crops(pairs, weights, g, dev, crop)
        with torch.autocast(**ac):
            fake = G(x)
            ld = lsgan_d(D(x, y), D(x, fake.detach()))
        od.zero_grad(set_to_none=True)
        ld.backward()
        od.step()
        for p in D.parameters():
            p.requires_grad_(False)
        with torch.autocast(**ac):
            ladv = lsgan_g(D(x, fake))
        rec = shift_tolerant_l1(fake.float(), y)
        lg = ladv + lam * rec
        og.zero_grad(set_to_none=True)
        lg.backward()
        og.step()
        for p in D.parameters():
            p.requires_grad_(True)
        return {"loss_d": float(ld.detach()), "g_adv": float(ladv.detach()),
                "rec_dn": float(rec.detach()) * 255}

    state = Path(args["state"])
    epochs, done_steps, curve, logs, before = args["epochs"], 0, [], [], 0.0
    if state.exists():  # exact resume: the schedule's E was fixed by the first session
        st = load_state(state, nets)
        done_steps, curve, logs, before = st["step"], st["curve"], st["logs"], st["seconds"]
    elif not epochs:  # time the first steps of every process together, then hear E
        for _ in range(5):
            logs.append(step())
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(20):
            logs.append(step())
        if dev.type == "cuda":
            torch.cuda.synchronize()
        q.put(("rate", (time.perf_counter() - t) / 20))
        epochs = args["epochs_q"].get()
        done_steps = 25
    spe = args["steps_per_epoch"]
    total = epochs * spe
    half = total // 2
    sched = lambda s: 1.0 if s < half else max(0.0, 1.0 - (s - half) / max(1, total - half))
    every = max(1, epochs // args["evals"])
    t0 = time.perf_counter() - before
    stopped = None

    def scored(e: int) -> dict:
        row = {"epoch": e, "seconds": round(time.perf_counter() - t0, 1),
               **{k: float(np.mean([l[k] for l in logs])) for k in logs[0]}}
        if held:
            row["held_out"] = score(G, held, dev, flat_value)
        return row

    for s in range(done_steps, total):
        for o in (og, od):
            for pg in o.param_groups:
                pg["lr"] = 2e-4 * sched(s)
        logs.append(step())
        if (s + 1) % spe:
            continue
        e = (s + 1) // spe
        late = time.monotonic() > args["deadline"]  # the lease ends: score where it stands, stop
        if e % every == 0 or e == epochs or late:
            curve.append(scored(e))
            logs = []
            print(f"λ {lam} hold {hold} epoch {e}/{epochs}: {json.dumps(curve[-1])}", flush=True)
        save_state(state, nets, s + 1, curve, logs, time.perf_counter() - t0)
        if late and e < epochs:
            stopped = e
            break
    from safetensors.torch import save_file
    sd = {f"{lam}/{hold}/{k}": v.detach().half().cpu().contiguous() for k, v in G.state_dict().items()
          if v.is_floating_point()}
    sd.update({f"{lam}/{hold}/{k}": v.cpu().contiguous() for k, v in G.state_dict().items()
               if not v.is_floating_point()})
    save_file(sd, str(Path(args["parts"]) / f"gen_{lam}_{hold}.safetensors"))
    flat = None
    if held:
        k = np.linspace(0, len(held) - 1, min(SWD_IMAGES, len(held))).round().astype(int)
        sub = [held[i][1].to(dev) for i in k]
        flat = realism([torch.full_like(r, flat_value) for r in sub], sub)
    q.put(("done", {"lam": lam, "hold": hold, "epochs": epochs, "stopped_at": stopped,
                    "flat": flat, "curve": curve,
                    "train_sources": train_names, "flat_value": flat_value}))


def pack(parts: Path, out: Path, limit: float = 15e6) -> None:
    """The runs' generators packed into as few safetensors files under ``limit`` bytes as they
    fit (a device lease returns 8 files at most), ``generators_<k>.safetensors``."""
    from safetensors.torch import load_file, save_file
    group: dict = {}
    k = 0
    for f in sorted(parts.glob("gen_*.safetensors")):
        sd = load_file(str(f))
        size = sum(v.numel() * v.element_size() for v in sd.values())
        if group and sum(v.numel() * v.element_size() for v in group.values()) + size > limit:
            save_file(group, str(out / f"generators_{k}.safetensors"))
            group, k = {}, k + 1
        group.update(sd)
    if group:
        save_file(group, str(out / f"generators_{k}.safetensors"))


def score_bundle(model: str, root: Path, sources: list[str]) -> dict:
    """The same held-out scores of a saved model (the shipped floor a user has) on each source,
    on this machine's CPU: ``{source: {mae_dn, swd…, contrast, r}}``."""
    from bandbridge.bundle import load_model
    b = load_model(model)
    out = {}
    for name in sources:
        pairs = load_source(root, name)
        out[name] = score(b.generator, pairs, torch.device("cpu"), float("nan"))
        out[name].pop("flat_mae_dn")
    return out


@torch.no_grad()
def level_scores(net, pairs) -> dict:
    """How much of a model's error is the display level: per image (8-bit, DN) the MAE as
    written, with the output's mean set to the real frame's (what a coarse or earlier reference
    of the band at the place gives), and with mean and standard deviation both set; the mean
    output and real levels and r, averaged over the images."""
    net.eval()
    m: dict[str, list] = {k: [] for k in ("mae_dn", "mae_level_dn", "mae_level_gain_dn", "mean_dn",
                                          "real_mean_dn", "r")}
    for x, y in pairs:
        p = (predict_8bit(net, x, torch.device("cpu")).double() * 255).round()  # whole DN, exactly
        y = y.double() * 255
        level = (p - p.mean() + y.mean()).clamp(0, 255)
        gain = ((p - p.mean()) / p.std().clamp_min(1e-9) * y.std() + y.mean()).clamp(0, 255)
        for k, v in (("mae_dn", p), ("mae_level_dn", level), ("mae_level_gain_dn", gain)):
            m[k].append(float((v - y).abs().mean()))
        m["mean_dn"].append(float(p.mean()))
        m["real_mean_dn"].append(float(y.mean()))
        m["r"].append(pearson_r(p.float(), y.float()))
    # a flat output correlates with nothing: its r is NaN on every image
    return {k: float(np.nanmean(v)) if not np.isnan(v).all() else float("nan") for k, v in m.items()}


class Flat(torch.nn.Module):
    """A flat grey frame: with its level set, each real frame's own mean everywhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x[:, :1], 0.5)


def levels(out: Path, root: Path, floor: str) -> dict:
    """:func:`level_scores` of every finished generator of ``out`` on its held-out source, and of
    the saved model ``floor`` (if given) and a flat frame on the same sources, on this machine's
    CPU."""
    from safetensors.torch import load_file
    rec = json.loads((out / "curves.json").read_text())
    gen = {k: v for k, v in rec["generator"].items() if k != "name"}
    sd: dict = {}
    for f in sorted(out.glob("generators_*.safetensors")):
        sd.update(load_file(str(f)))
    res: dict = {"runs": {}, "floor": {}, "flat": {}}
    runs = [r for r in rec["runs"] if r["hold"] in SOURCES]
    others = {"flat": Flat()}
    if floor:
        from bandbridge.bundle import load_model
        others["floor"] = load_model(floor).generator
    for hold in dict.fromkeys(r["hold"] for r in runs):  # each source read and scored once
        pairs = load_source(root, hold)
        for r in (r for r in runs if r["hold"] == hold):  # one generator per λ
            pre = f"{r['lam']}/{hold}/"
            G = UNet(3, 1, **gen)
            G.load_state_dict({k[len(pre):]: v.float() if v.is_floating_point() else v
                               for k, v in sd.items() if k.startswith(pre)})
            res["runs"][pre.rstrip("/")] = level_scores(G, pairs)
        for name, net in others.items():
            res[name][hold] = level_scores(net, pairs)
    return res


SETTINGS = ("epochs", "lambdas", "holds", "evals", "seed", "sources", "steps_per_epoch", "crop",
            "ngf", "depth", "ndf")  # what a resumed run keeps from its first session (OUT/run.json)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true",
                    help="continue the runs of OUT (its run.json's settings) from their saved states")
    ap.add_argument("--epochs", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=420.0)
    ap.add_argument("--deadline-s", type=float, default=0.0,
                    help="stop every run this many seconds after the start (0: none)")
    ap.add_argument("--lambdas", default="10,40")
    ap.add_argument("--holds", default="roadscene,tno,m3svd,msrs,all")
    ap.add_argument("--evals", type=int, default=12, help="scored epochs per run")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sources", default=",".join(SOURCES))
    ap.add_argument("--steps-per-epoch", type=int, default=25)
    ap.add_argument("--crop", type=int, default=256, help="training crop side, px")
    ap.add_argument("--ngf", type=int, default=16, help="the U-Net's first width")
    ap.add_argument("--depth", type=int, default=8, help="the U-Net's levels (the crop ≥ 2^depth)")
    ap.add_argument("--ndf", type=int, default=64, help="the PatchGAN's first width")
    ap.add_argument("--progress", action="store_true",
                    help="instead: write OUT/progress.json, each run's curve so far from its saved state")
    ap.add_argument("--score-model", default="",
                    help="instead: score this saved model on every source (CPU), write OUT/baseline.json")
    ap.add_argument("--levels", action="store_true",
                    help="instead: how much of the finished generators' held-out error (and "
                         "--score-model's) is the display level; writes OUT/levels.json")
    a = ap.parse_args()
    out = Path(a.out)
    command = " ".join(["python", "benchmarks/thermal_gan.py", *sys.argv[1:]])
    out.mkdir(parents=True, exist_ok=True)
    if a.levels:
        rec = {"command": command, **levels(out, Path(a.data), a.score_model)}
        (out / "levels.json").write_text(json.dumps(rec, indent=1))
        return
    if a.score_model:
        rec = {"command": command, "model": a.score_model,
               "sources": score_bundle(a.score_model, Path(a.data), a.sources.split(","))}
        Path(a.out, "baseline.json").write_text(json.dumps(rec, indent=1))
        return
    run_file = out / "run.json"
    if a.progress:  # a run in progress (or stopped): its curves so far, nothing trained
        first = json.loads(run_file.read_text())
        rows = {f.stem: torch.load(f, map_location="cpu", weights_only=True)
                for f in sorted((out / "state").glob("*.pt"))}
        rec = first | {"runs": [{"run": k, "epoch": v["step"] // first["steps_per_epoch"],
                                 "curve": v["curve"]} for k, v in rows.items()]}
        (out / "progress.json").write_text(json.dumps(rec, indent=1))
        return
    if a.resume:
        if not run_file.exists():
            sys.exit(f"{run_file}: no run to resume here; start one without --resume")
        first = json.loads(run_file.read_text())
        vars(a).update({k: first[k] for k in SETTINGS})
        commands = first["commands"] + [command]
    elif run_file.exists():
        sys.exit(f"{out}: a run is already here; --resume continues it, or give another --out")
    else:
        commands = [command]
    state = out / "state"
    state.mkdir(exist_ok=True)
    parts = Path(tempfile.mkdtemp(prefix="thermal_gan_"))
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    jobs = [(float(l), h) for l in a.lambdas.split(",") for h in a.holds.split(",")]
    eq = [ctx.Queue() for _ in jobs]
    procs = []
    t_start = time.perf_counter()
    gen = dict(ngf=a.ngf, depth=a.depth, norm="batch", dropout=False, upsample="bilinear")
    critic = dict(ndf=a.ndf, n_layers=3, norm="batch")
    for (lam, hold), e in zip(jobs, eq):
        args = {"lam": lam, "hold": hold, "data": a.data, "epochs": a.epochs, "generator": gen,
                "critic": critic, "crop": a.crop, "epochs_q": e, "evals": a.evals, "device": a.device,
                "threads": a.threads, "seed": a.seed, "sources": a.sources.split(","),
                "parts": str(parts), "steps_per_epoch": a.steps_per_epoch,
                "state": str(state / f"{lam}_{hold}.pt"),
                "deadline": time.monotonic() + a.deadline_s if a.deadline_s else float("inf")}
        p = ctx.Process(target=train_one, args=(args, q))
        p.start()
        procs.append(p)
    record = {"command": commands[0], "commands": commands,
              "generator": {"name": "unet", **gen}, "critic": {"name": "patchgan", **critic},
              "crop": a.crop, "batch": BATCH,
              "steps_per_epoch": a.steps_per_epoch, "shift": SHIFT, "device": a.device,
              "gpu": torch.cuda.get_device_name() if a.device == "cuda" else None, "runs": []}
    epochs = a.epochs
    if not epochs:
        rates = [q.get()[1] for _ in jobs]
        per_epoch = max(rates) * a.steps_per_epoch
        spent = time.perf_counter() - t_start
        # a scored epoch costs about 8 s (SWD on the CPU): the budget pays for them too
        # 0.8: the processes that loaded their data first timed steps with fewer beside them
        epochs = int(max(20, 0.8 * (a.budget_s - spent - 8 * a.evals) / per_epoch))
        record["timed"] = {"seconds_per_step": max(rates), "startup_s": round(spent, 1)}
        for e in eq:
            e.put(epochs)
    record["epochs"] = a.epochs = epochs
    run_file.write_text(json.dumps({k: getattr(a, k) for k in SETTINGS} | {"commands": commands}, indent=1))
    print(f"training {len(jobs)} runs for {epochs} epochs of {a.steps_per_epoch} steps", flush=True)
    for _ in jobs:
        kind, r = q.get()
        record["runs"].append(r)
        Path(a.out, "curves.json").write_text(json.dumps(record, indent=1))
    for p in procs:
        p.join()
    pack(parts, Path(a.out))
    record["seconds"] = round(time.perf_counter() - t_start, 1)
    Path(a.out, "curves.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
