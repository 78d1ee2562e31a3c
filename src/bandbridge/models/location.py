"""Location priors (NIR-GAN): the crop's latitude/longitude, encoded, projected to the generator's
bottleneck channels, scaled by a learnable factor that starts at 0, and added to the features
after the downsampling layers — so a model with a fresh prior behaves exactly like one without.

Encoder: the point on the unit sphere (no seam at ±180°), random Fourier features at several
scales (fixed, seeded), then an MLP trained with the model.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FourierLocationEncoder(nn.Module):
    def __init__(self, dim: int = 64, n_freq: int = 32, scales: tuple[float, ...] = (1.0, 8.0, 64.0),
                 seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("B", torch.cat([torch.randn(3, n_freq, generator=g) * s for s in scales], 1))
        self.mlp = nn.Sequential(nn.Linear(2 * self.B.shape[1], 128), nn.ReLU(True), nn.Linear(128, dim))
        self.dim = dim

    def forward(self, latlon: Tensor) -> Tensor:
        lat, lon = latlon[:, 0].float() * (math.pi / 180), latlon[:, 1].float() * (math.pi / 180)
        xyz = torch.stack([torch.cos(lat) * torch.cos(lon), torch.cos(lat) * torch.sin(lon), torch.sin(lat)], 1)
        z = 2 * math.pi * xyz @ self.B  # (B, 3) unit vectors, then the Fourier features
        return self.mlp(torch.cat([torch.sin(z), torch.cos(z)], 1))


class LocationPrior(nn.Module):
    """``features (B, C, h, w)``, ``context (B, ≥2)`` whose first columns are (lat, lon) in
    degrees (NaN: no location) → ``features + scale · proj(enc(lat, lon))`` broadcast over space;
    ``scale`` starts at 0.

    encoder: 'fourier' (learned with the model) or 'geoclip' (GeoCLIP's pretrained encoder,
    frozen; weights from the `geoclip` package or ``weights``)."""

    def __init__(self, channels: int, dim: int = 64, encoder: str = "fourier",
                 weights: str | None = None, **encoder_args):
        super().__init__()
        if encoder == "geoclip":
            from bandbridge.models.geoclip import GeoCLIPLocationEncoder
            self.encoder = GeoCLIPLocationEncoder(weights)
            dim = self.encoder.dim
        elif encoder == "fourier":
            self.encoder = FourierLocationEncoder(dim, **encoder_args)
        else:
            raise ValueError(f"unknown location encoder '{encoder}'; choose fourier or geoclip")
        self.proj = nn.Linear(dim, channels)
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, feats: Tensor, context: Tensor | None) -> Tensor:
        if context is None:
            return feats
        latlon = context[:, :2]
        missing = torch.isnan(latlon).any(1, keepdim=True)  # ONNX-friendly ops only
        ll = torch.where(torch.isnan(latlon), torch.zeros_like(latlon), latlon).float()
        e = self.proj(self.encoder(ll)) * (~missing).float()
        return feats + (self.scale * e).to(feats.dtype)[:, :, None, None]


class ConditionPrior(nn.Module):
    """Sensor/GSD conditioning, injected like the location prior: ``context[:, 2]`` the ground
    sample distance in metres (NaN: unknown), ``context[:, 3]`` the sensor's index in ``sensors``
    (−1: unknown) → log₂-GSD Fourier features and a sensor embedding → MLP → projection to the
    bottleneck channels × a learnable scale that starts at 0."""

    def __init__(self, channels: int, sensors: list[str] | None = None, dim: int = 32):
        super().__init__()
        self.sensors = list(sensors or [])
        self.sensor = nn.Embedding(len(self.sensors) + 1, dim)  # the last row: unknown
        self.register_buffer("freqs", 2.0 ** torch.arange(4).float() * (math.pi / 8))
        self.gsd = nn.Sequential(nn.Linear(8, dim), nn.ReLU(True), nn.Linear(dim, dim))
        self.proj = nn.Linear(dim, channels)
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, feats: Tensor, context: Tensor | None) -> Tensor:
        if context is None or context.shape[1] < 4:
            return feats
        gsd, idx = context[:, 2:3].float(), context[:, 3]
        known = (~torch.isnan(gsd) & (gsd > 0)).float()
        lg = torch.log2(torch.where(known > 0, gsd, torch.ones_like(gsd))) * self.freqs
        e = self.gsd(torch.cat([torch.sin(lg), torch.cos(lg)], 1)) * known
        n = len(self.sensors)
        i = torch.where((idx >= 0) & (idx < n), idx, torch.full_like(idx, n)).long()
        e = e + self.sensor(i) * (i < n).float()[:, None]
        return feats + (self.scale * self.proj(e)).to(feats.dtype)[:, :, None, None]
