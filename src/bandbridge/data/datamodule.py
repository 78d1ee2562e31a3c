"""The Lightning DataModule: sources → items by split → loaded pairs → dataloaders."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from bandbridge.config import Config
from bandbridge.data.datasets import (EpochSampler, LoadedPair, RandomCropDataset, TileDataset,
                                      load_pair)
from bandbridge.data.items import discover
from bandbridge.errors import BandbridgeError


class PairedDataModule(L.LightningDataModule):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.pairs: dict[str, list[LoadedPair]] = {}

    def load_split(self, split: str) -> list[LoadedPair]:
        if split not in self.pairs:
            items = discover(self.cfg.data)[split]
            srcs = self.cfg.data.sources
            loaded = (load_pair(it, srcs[it.source], self.cfg.task.scale) for it in items)
            self.pairs[split] = [p for p in loaded if p is not None]
            attach_locations(self.pairs[split], self.cfg.data.root)
        return self.pairs[split]

    def setup(self, stage: str | None = None) -> None:
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}
        for split in needed.get(stage or "fit", ("train", "val")):
            if not self.load_split(split):
                raise BandbridgeError(
                    f"the '{split}' split is empty: no item of data.sources is assigned to it. "
                    "Add a source for it or adjust the split patterns")
        check_channels(self.pairs)

    @property
    def channels(self) -> tuple[int, int]:
        """(input bands, target bands) of the training pairs (one network takes them all)."""
        first = self.pairs["train"][0]
        return first.x.shape[0], first.y.shape[0]

    def _world(self) -> tuple[int, int]:
        t = getattr(self, "trainer", None)
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def _loader(self, ds, sampler=None) -> DataLoader:
        d = self.cfg.data
        return DataLoader(ds, batch_size=d.batch_size, sampler=sampler,
                          num_workers=d.num_workers, persistent_workers=d.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        d = self.cfg.data
        rank, world = self._world()
        ds = RandomCropDataset(self.pairs["train"], d, self.cfg.task.scale, d.samples_per_epoch,
                               self.cfg.train.seed)
        return self._loader(ds, EpochSampler(max(d.samples_per_epoch // world, 1), rank, world))

    def val_dataloader(self) -> DataLoader:
        return self._loader(TileDataset(self.pairs["val"], self.cfg.data, self.cfg.task.scale))

    def test_dataloader(self) -> DataLoader:
        return self._loader(TileDataset(self.pairs["test"], self.cfg.data, self.cfg.task.scale))


def attach_locations(pairs: list[LoadedPair], root: str) -> None:
    """Give non-georeferenced pairs the (lat, lon) of their source's sidecar CSV/JSON."""
    from pathlib import Path
    tables: dict[str, dict[str, tuple[float, float]]] = {}
    for p in pairs:
        f = p.source.locations
        if not f or p.crs is not None:
            continue
        if f not in tables:
            path = Path(f) if Path(f).is_absolute() else Path(root) / f
            try:
                tables[f] = read_locations(path)
            except (OSError, KeyError, ValueError, TypeError) as e:
                raise BandbridgeError(f"{path}: cannot read locations (CSV id,lat,lon or JSON "
                                      f"{{id: [lat, lon]}}): {e}") from None
        key = p.item.id
        p.latlon = tables[f].get(key) or tables[f].get(Path(key).stem)


def read_locations(path) -> dict[str, tuple[float, float]]:
    """{id: (lat, lon)} from a CSV (id,lat,lon) or JSON ({id: [lat, lon]}, {id: {lat, lon}} or
    [{id, lat, lon}, ...])."""
    import csv
    import json
    if str(path).lower().endswith(".json"):
        d = json.loads(open(path).read())
        rows = d if isinstance(d, list) else [
            {"id": k, "lat": v[0], "lon": v[1]} if isinstance(v, list) else {"id": k, **v}
            for k, v in d.items()]
    else:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    return {str(r["id"]): (float(r["lat"]), float(r["lon"])) for r in rows}


def check_channels(pairs: dict[str, list[LoadedPair]]) -> None:
    """All pairs of a run must have the same band counts (they feed one network)."""
    first = None
    for items in pairs.values():
        for p in items:
            sig = (p.x.shape[0], p.y.shape[0])
            if first is None:
                first = (sig, p)
            elif sig != first[0]:
                raise BandbridgeError(
                    f"{p.item.input_path}: {sig[0]} input / {sig[1]} target bands, but "
                    f"{first[1].item.input_path} has {first[0][0]} / {first[0][1]}; "
                    "select the same bands in every source")
