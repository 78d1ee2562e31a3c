"""Sentinel-2's residual network (issue 96; the network: ``models/s2_residual.py``): its Wald pairs,
its training and its bundle, shipped in ``bandbridge/networks/s2-residual``.

A source's pairs are its sharpening record's Sentinel-2 cases (``evaluation/sharpen_cases.s2_cases``,
Major-TOM realigned), once with the guides averaged by block means and once as a sensor of
Sentinel-2's response sees them (:data:`~bandbridge.workflows.s2_prior.S2_MTF`), at ×2 (the 20 m
bands) and ×6 (the 60 m bands); and each case again one octave coarser (guides and targets averaged
by 2 the same way, the ratio kept), so the network sees the step it is applied at as well as the one
it is checked at. A case whose guides and targets share one grid (``step == 1``) gives only the
coarser pair, as the band prior's do. A pair's upsampled bands are the case's reference upsampled as
``bandbridge sharpen`` upsamples it into its work file (``learners/upsampling.padded_up`` by
:data:`~bandbridge.policy.REFERENCE_UPSAMPLING`), so the network corrects what it is given there.

Training: random crops, flipped and rotated (``data/band_crops.BandCrops``), each scaled by one
brightness factor on inputs and targets alike, and with some present bands dropped (their upsampled
plane and presence 0, their target unknown), so that one network serves a run of any subset of the
coarse bands; the band prior's loss (L1 plus the 2 × 2 detail, ``training/band_prior.py``) on the
present, known target pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from affine import Affine
from torch.utils.data import Dataset

from bandbridge.data.band_crops import BandCrops
from bandbridge.data.grids import Grid, block_mean, mtf_mean
from bandbridge.evaluation.sharpen_cases import Case
from bandbridge.learners.upsampling import padded_up
from bandbridge.models.s2_residual import BETWEEN, S2_COARSE, S2_FINE, S2Residual, multiply_adds, refine, stacked
from bandbridge.policy import REFERENCE_UPSAMPLING
from bandbridge.workflows.s2_prior import S2_MTF
from bandbridge.workflows.s2_prior import source_pairs as gathered

Pair = tuple[np.ndarray, np.ndarray]  # ((20, H, W) the network's input, (8, H, W) targets, NaN where unknown)
NAME = "s2-residual"
__all__ = ["NetworkConfig", "beside_up", "case_pairs", "load_network", "refine", "save_network", "source_pairs",
           "train_network", "upsampled"]


@dataclass(frozen=True)
class NetworkConfig:
    """The network (``nf`` features, ``n_blocks`` residual blocks: fixed by the budget, see
    ``models/s2_residual.py``) and its training: ``steps`` Adam steps of ``batch`` crops of ``crop²`` at
    ``lr``, the detail weighed by ``detail_weight``; each crop scaled by a brightness factor drawn
    log-uniformly within ``brightness``, and all its present bands kept with probability ``keep_all``,
    else each kept with probability ½ (one at least); ``threads``: torch's while it trains."""

    nf: int = 24
    n_blocks: int = 3
    steps: int = 8000  # about 7 CPU-minutes on a busy 2-core machine (0.054 CPU-s a step)
    batch: int = 16
    crop: int = 32
    lr: float = 1e-3
    detail_weight: float = 2.0
    brightness: tuple[float, float] = (0.7, 1.4)
    keep_all: float = 0.5
    seed: int = 0
    threads: int = 1


def upsampled(reference: np.ndarray, grid: Grid, ratio: int) -> np.ndarray:
    """``reference (T, h, w)`` on ``grid.coarser(ratio)`` upsampled onto ``grid`` as ``bandbridge sharpen``
    writes it into its work file (``padded_up`` by ``REFERENCE_UPSAMPLING``) → ``(T, H, W)`` float32."""
    return padded_up(reference.astype(np.float32), grid.coarser(ratio), grid, REFERENCE_UPSAMPLING).astype(np.float32)


def beside_up(bands: np.ndarray, grid: Grid) -> np.ndarray:
    """``bands (C, H, W)`` known on ``grid`` given as a 60 m run holds its 20 m bands beside the guides: averaged to
    :data:`BETWEEN` times ``grid``'s pixel and upsampled back (:func:`upsampled`)."""
    return upsampled(block_mean(bands, BETWEEN)[0], grid, BETWEEN)


def _targets(t: np.ndarray, names: list[str]) -> np.ndarray:
    """``t (T, H, W)`` of the bands ``names`` in the output's order (``S2_COARSE``), the others NaN."""
    y = np.full((len(S2_COARSE), *t.shape[1:]), np.nan, np.float32)
    y[[S2_COARSE.index(b) for b in names]] = t
    return y


def _pair(guides: np.ndarray, truth: np.ndarray, grid: Grid, ratio: int, names: list[str],
          between: tuple[np.ndarray, list[str]] | None = None) -> Pair:
    """One pair: the reference (``truth`` block-averaged by ``ratio``) upsampled beside ``guides``; ``between``:
    bands known on ``grid`` (their truth there) that lie :data:`BETWEEN` times coarser than it at the run (the
    ×6 run's 20 m bands against its 60 m ones), given as such beside them and sharpened too."""
    up = upsampled(block_mean(truth, ratio)[0], grid, ratio)
    if between is not None:
        c, cn = between
        up, truth = np.concatenate([up, beside_up(c, grid)]), np.concatenate([truth, c])
        names = [*names, *cn]
    return stacked(guides, up, names), _targets(truth, names)


def case_pairs(case: Case, mtf: float | None) -> list[Pair]:
    """A case's pairs (see the module): its own (where ``step > 1``) and one octave coarser, the ratio kept
    (where that leaves two reference cells a side); its companions beside (``Case.companions``: the ×6 case's
    20 m bands, as the 60 m run gives the network them)."""
    x, t, k = case.guides.astype(np.float32), case.truth.astype(np.float32), case.ratio
    c = None if case.companions is None else case.companions.astype(np.float32)
    out = [_pair(x, t, case.grid, k, case.target_names, _with(c, case))] if case.step > 1 else []
    h, w = (t.shape[1] // (2 * k)) * 2 * k, (t.shape[2] // (2 * k)) * 2 * k  # whole coarser cells
    if min(h, w) >= 4 * k:
        g = case.grid
        coarse = Grid(g.crs, g.transform @ Affine.scale(2), h // 2, w // 2)
        c2 = None if c is None else mtf_mean(c[:, :h, :w], 2, mtf)
        out.append(_pair(mtf_mean(x[:, :h, :w], 2, mtf), mtf_mean(t[:, :h, :w], 2, mtf), coarse, k,
                         case.target_names, _with(c2, case)))
    return out


def _with(c: np.ndarray | None, case: Case) -> tuple[np.ndarray, list[str]] | None:
    return None if c is None else (c, case.companion_names)


def source_pairs(data: str | Path, say: Callable[[str], None] = print) -> dict[str, list[Pair]]:
    """Every development Sentinel-2 source's pairs (:func:`case_pairs`), by source, as the prior's are gathered."""
    return gathered(data, say, case_pairs)


class Augmented(Dataset):
    """:class:`~bandbridge.data.band_crops.BandCrops`' crops, each scaled by a brightness factor and with
    some present bands dropped (see :class:`NetworkConfig`); a pure function of ``(seed, i)``."""

    def __init__(self, crops: BandCrops, brightness: tuple[float, float], keep_all: float, seed: int):
        self.crops, self.brightness, self.keep_all, self.seed = crops, brightness, keep_all, seed

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int) -> dict:
        item = self.crops[i]
        x, y = item["input"].clone(), item["target"].clone()
        g = torch.Generator().manual_seed(self.seed * 1_000_033 + i + 7)
        lo, hi = np.log(self.brightness[0]), np.log(self.brightness[1])
        f = float(np.exp(lo + (hi - lo) * float(torch.rand((), generator=g))))
        n, m = len(S2_FINE), len(S2_COARSE)
        x[:n + m] *= f  # the reflectance, not the presence planes
        y *= f
        present = (x[n + m:].flatten(1).amax(1) > 0).nonzero().flatten()
        if len(present) > 1 and float(torch.rand((), generator=g)) >= self.keep_all:
            keep = torch.rand(len(present), generator=g) < 0.5
            keep[int(torch.randint(0, len(present), (), generator=g))] = True  # one band at least
            for b in present[~keep].tolist():
                x[n + b], x[n + m + b], y[b] = 0.0, 0.0, float("nan")
        return {"input": x, "target": y}


def train_network(pairs: list[Pair], cfg: NetworkConfig) -> S2Residual:
    """An ``S2Residual`` trained on ``pairs`` (eval mode), by Lightning on this machine's CPU."""
    import lightning as L
    from torch.utils.data import DataLoader

    from bandbridge.training.band_prior import BandPriorTask
    from bandbridge.workflows.console import quiet_lightning
    torch.manual_seed(cfg.seed)
    net = S2Residual(len(S2_FINE) + 2 * len(S2_COARSE), len(S2_COARSE), cfg.nf, cfg.n_blocks)
    # channels-last and one thread: on a busy 2-core machine a step took 0.06 CPU-s so, 0.69 CPU-s on
    # two threads in the default layout (small convolutions spend the second thread waiting)
    net = net.to(memory_format=torch.channels_last)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    crops = Augmented(BandCrops(pairs, cfg.crop, cfg.steps * cfg.batch, cfg.seed), cfg.brightness, cfg.keep_all, cfg.seed)
    quiet_lightning()
    trainer = L.Trainer(max_steps=cfg.steps, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    try:
        trainer.fit(BandPriorTask(net, cfg.lr, cfg.steps, cfg.detail_weight), DataLoader(crops, cfg.batch))
    finally:
        torch.set_num_threads(threads)
    return net.to(memory_format=torch.contiguous_format).eval()


def input_names() -> list[str]:
    """The input's channels by name: the guides, each coarse band upsampled, each band's presence."""
    return S2_FINE + [f"{b}_up" for b in S2_COARSE] + [f"{b}_present" for b in S2_COARSE]


def save_network(net: S2Residual, folder: str | Path, cfg: NetworkConfig, sources: list[str], command: str = ""):
    """``net`` as the bundle :data:`NAME` in ``folder`` (safetensors and ``model.yaml``: loaded without
    unpickling), with the sources, configuration, MTF and the command that trained it; its spec."""
    from bandbridge.bundle import save_bundle
    from bandbridge.config import build_config
    from bandbridge.spec import read_spec
    refl = {"scaling": "reflectance"}
    src = {"name": "s2", "layout": "multiband", "files": ["scene.tif"],
           "input": {"bands": input_names(), **refl}, "target": {"bands": S2_COARSE, **refl}}
    conf = build_config({"name": NAME, "data": {"root": ".", "sources": [src]},
                         "model": {"generator": {"name": NAME, "args": {"nf": cfg.nf, "n_blocks": cfg.n_blocks}}},
                         "inference": {"tile": 512, "overlap": 16}})
    conf_ = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}  # YAML-safe
    info = {"sources": sorted(sources), "config": conf_, "mtf": S2_MTF, "command": command,
            "multiply_adds": multiply_adds(len(input_names()), len(S2_COARSE), cfg.nf, cfg.n_blocks),
            "upsampling": f"learners/guided.padded_up, {REFERENCE_UPSAMPLING}"}
    save_bundle(folder, net, conf, len(input_names()), len(S2_COARSE), epoch=-1, s2_residual=info)
    return read_spec(folder)


def load_network(folder: str | Path) -> S2Residual:
    """The network of the bundle in ``folder`` (``bundle.load_bundle``: hashes checked, no unpickling), in
    eval mode; one line naming the folder where it holds another model."""
    from bandbridge.bundle import load_bundle
    from bandbridge.errors import BandbridgeError
    net = load_bundle(folder).generator
    if not isinstance(net, S2Residual):
        raise BandbridgeError(f"{folder}: not an {NAME} bundle (its generator is {type(net).__name__}); "
                              f"give the folder of bandbridge/networks/{NAME}")
    return net.eval()
