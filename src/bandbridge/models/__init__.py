"""Generators and critics, chosen by name from small dicts."""

from __future__ import annotations

from torch import nn

from bandbridge.models.band_prior import BandPrior
from bandbridge.models.channel_map import Mapped
from bandbridge.models.fill_base import FillBase
from bandbridge.models.patchgan import PatchGAN
from bandbridge.models.reference_band import ReferenceBand
from bandbridge.models.resnet import ResNetGenerator
from bandbridge.models.rlfn import RLFN
from bandbridge.models.s2_residual import S2Residual
from bandbridge.models.sr import SRGenerator
from bandbridge.models.unet import UNet

# networks; a per-pixel learner, or a network's residual on one, is built by generators.py
GENERATORS: dict[str, type[nn.Module]] = {"unet": UNet, "resnet": ResNetGenerator, "sr": SRGenerator,
                                          "rlfn": RLFN, "reference": ReferenceBand,
                                          "fill-base": FillBase, "band-prior": BandPrior,
                                          "s2-residual": S2Residual, "s2-residual-mapped": Mapped}
SR_GENERATORS = ("sr", "rlfn")  # take the task's scale
CRITICS: dict[str, type[nn.Module]] = {"patchgan": PatchGAN}


def _build(table: dict, kind: str, name: str, args: dict, also: tuple[str, ...] = ()) -> nn.Module:
    from bandbridge.errors import BandbridgeError
    if name not in table:
        raise BandbridgeError(f"unknown {kind} '{name}'; choose one of {sorted([*table, *also])}")
    try:
        return table[name](**args)
    except (TypeError, ValueError) as e:
        raise BandbridgeError(f"model.{kind}.args for '{name}': {e}") from None


def build_network(name: str, in_channels: int, out_channels: int, args: dict,
                  scale: int = 1, also: tuple[str, ...] = ()) -> nn.Module:
    """A network of :data:`GENERATORS` (``also``: the other generator names an error lists)."""
    extra = {"scale": scale} if name in SR_GENERATORS else {}
    return _build(GENERATORS, "generator", name,
                  {"in_channels": in_channels, "out_channels": out_channels, **extra, **args}, also)


def build_critic(name: str, in_channels: int, args: dict) -> nn.Module:
    return _build(CRITICS, "critic", name, {"in_channels": in_channels, **args})


def count_parameters(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
