"""The Sentinel-2 band prior (issue 84): a network trained across the development Sentinel-2
sources on the Wald pairs every scene gives for free, shipped as a bundle that ``bandbridge sharpen
-m`` serves as one more guide, and its leave-one-source-out record.

A source's pairs are its sharpening record's Sentinel-2 cases (``evaluation/sharpen_cases.py``, of the one
catalogue of the sources, ``evaluation/s2_sources.py``): the
four 10 m bands averaged onto the 20 m (60 m) grid, the 20 m (60 m) bands there as they are; once
with the guides averaged by block means and once as a sensor of Sentinel-2's response sees them
(:data:`S2_MTF`, ``grids.mtf_mean``); and each again one octave coarser, both sides averaged the
same way, so that the prior sees the step it is applied at as well as the one it is checked at.
A case whose guides and targets share one grid (``ukis_csmask_s2``'s B11 and B12 resampled onto its
10 m grid) gives only the coarser pair: its own would teach the prior to blur. A pair lacks the
bands its source lacks (NaN), so one prior learns all eight coarse bands.

The record: for each source, the prior trained on the others, then every case of that source
sharpened as a user runs it, with and without ``-m`` that fold's bundle, beside the five upsamplings
(per band RMSE and MAE, ERGAS, SAM; ``evaluation/sharpen_record.run_case``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.data.grids import mtf_mean
from bandbridge.evaluation.sharpen_cases import S2_GUIDES, Case, s2_cases

OUTPUTS = ["B01", "B05", "B06", "B07", "B8A", "B09", "B11", "B12"]  # every coarse band but B10 (cirrus)
# Sentinel-2 MSI's modulation transfer at the Nyquist frequency of the coarser grid the Wald pairs
# are made at: the value pansharpening's MTF-matched filters take for a multispectral sensor
# (Aiazzi et al. 2006; Vivone et al. 2015's toolbox); not measured here.
S2_MTF = 0.3

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class PriorConfig:
    """The prior's network (``models/band_prior.BandPrior``: ``nf`` features, ``n_blocks`` residual
    blocks) and its training: ``steps`` Adam steps of ``batch`` crops of ``crop²`` at ``lr``, the
    detail weighed by ``detail_weight`` (``training/band_prior.py``)."""

    nf: int = 32
    n_blocks: int = 4
    steps: int = 2500
    batch: int = 16
    crop: int = 32
    lr: float = 1e-3
    detail_weight: float = 2.0
    seed: int = 0


def source_of(case: Case) -> str:
    """The development source a case comes from (its folder, the first part of the catalogue's path): the unit a
    fold leaves out."""
    return case.source.split("/")[0].split(" ")[0]


def case_pairs(case: Case, mtf: float | None) -> list[Pair]:
    """A case's pairs (see the module): ``(guides (4, H, W), targets (8, H, W))``, NaN where absent."""
    x, t = case.guides.astype(np.float32), case.truth.astype(np.float32)
    h, w = (x.shape[1] // 2) * 2, (x.shape[2] // 2) * 2
    coarser = [(mtf_mean(x[:, :h, :w], 2, mtf), mtf_mean(t[:, :h, :w], 2, mtf))] if min(h, w) >= 8 else []
    pairs = ([(x, t)] if case.step > 1 else []) + coarser
    return [(a, _placed(b, case.target_names)) for a, b in pairs]


def _placed(t: np.ndarray, names: list[str]) -> np.ndarray:
    """``t (T, H, W)`` of the bands ``names`` in :data:`OUTPUTS`' order, the others NaN."""
    y = np.full((len(OUTPUTS), *t.shape[1:]), np.nan, np.float32)
    y[[OUTPUTS.index(b) for b in names]] = t
    return y


def source_pairs(data: str | Path, say: Callable[[str], None] = print,
                 pairs_of: Callable[[Case, float | None], list] | None = None) -> dict[str, list[Pair]]:
    """Every development Sentinel-2 source's pairs, by source (Major-TOM's realigned cases only); ``pairs_of``: a
    case's pairs (default :func:`case_pairs`, the prior's; the residual network's are its own)."""
    out: dict[str, list] = {}
    for mtf in (None, S2_MTF):
        for case in s2_cases(Path(data), mtf, as_stated=False):
            out.setdefault(source_of(case), []).extend((pairs_of or case_pairs)(case, mtf))
    say("pairs: " + ", ".join(f"{s} {len(p)}" for s, p in out.items()))
    return out


def train_prior(pairs: list[Pair], cfg: PriorConfig):
    """A ``BandPrior`` trained on ``pairs`` (eval mode), by Lightning on this machine's CPU."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from bandbridge.data.band_crops import BandCrops
    from bandbridge.models.band_prior import BandPrior
    from bandbridge.training.band_prior import BandPriorTask
    from bandbridge.workflows.console import quiet_lightning
    torch.manual_seed(cfg.seed)
    net = BandPrior(len(S2_GUIDES), len(OUTPUTS), cfg.nf, cfg.n_blocks)
    crops = BandCrops(pairs, cfg.crop, cfg.steps * cfg.batch, cfg.seed)
    quiet_lightning()
    trainer = L.Trainer(max_steps=cfg.steps, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(BandPriorTask(net, cfg.lr, cfg.steps, cfg.detail_weight), DataLoader(crops, cfg.batch))
    return net.eval()


def save_prior(net, folder: str | Path, cfg: PriorConfig, sources: list[str], name: str = "s2-prior"):
    """``net`` as the bundle ``name`` in ``folder``: the four 10 m bands in reflectance in, the eight
    coarse bands out, on one grid; its spec."""
    from bandbridge.bundle import save_bundle
    from bandbridge.config import build_config
    from bandbridge.spec import read_spec
    refl = {"scaling": "reflectance"}
    src = {"name": "s2", "layout": "multiband", "files": ["scene.tif"],
           "input": {"bands": S2_GUIDES, **refl}, "target": {"bands": OUTPUTS, **refl}}
    conf = build_config({"name": name, "data": {"root": ".", "sources": [src]},
                         "model": {"generator": {"name": "band-prior", "args": {"nf": cfg.nf, "n_blocks": cfg.n_blocks}}},
                         "inference": {"tile": 1024, "overlap": 16}})
    save_bundle(folder, net, conf, len(S2_GUIDES), len(OUTPUTS), epoch=-1,
                band_prior={"sources": sorted(sources), "config": asdict(cfg), "mtf": S2_MTF})
    return read_spec(folder)
