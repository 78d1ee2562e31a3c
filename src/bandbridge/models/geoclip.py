"""GeoCLIP's pretrained location encoder, frozen, written from its description (no import of the
`geoclip` package, which would pull its image backbone; no hub access).

Install the weights with ``pip install --no-deps geoclip`` (the wheel carries
``geoclip/model/weights/location_encoder_weights.pth``, MIT licence). (lat, lon) in degrees →
Equal Earth projection → three branches, one per random-Fourier-feature scale: fixed Gaussian
projection (256) → [cos, sin] (512) → 1024 → 1024 → 1024 (ReLU) → 512; output = their sum.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
from torch import Tensor, nn

from bandbridge.errors import BandbridgeError

A1, A2, A3, A4, SF = 1.340264, -0.081106, 0.000893, 0.003796, 66.50336


class _Branch(nn.Module):
    def __init__(self):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(256, 2), requires_grad=False)  # the RFF projection
        self.mlp = nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                 nn.Linear(1024, 1024), nn.ReLU())
        self.head = nn.Linear(1024, 512)

    def forward(self, p: Tensor) -> Tensor:
        v = 2 * math.pi * p @ self.b.T
        return self.head(self.mlp(torch.cat([torch.cos(v), torch.sin(v)], 1)))


class GeoCLIPLocationEncoder(nn.Module):
    """Frozen: its parameters never train; ``dim`` = 512."""

    dim = 512

    def __init__(self, weights: str | Path | None = None):
        super().__init__()
        self.branches = nn.ModuleList(_Branch() for _ in range(3))
        path = Path(weights) if weights else geoclip_weights_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        mapped = {}
        for k, v in state.items():  # LocEnc{i}.capsule.{0.b,1,3,5}.*, LocEnc{i}.head.0.*
            i, rest = k.split(".", 1)
            i = int(i.removeprefix("LocEnc"))
            rest = (rest.replace("capsule.0.b", "b").replace("capsule.1.", "mlp.0.")
                    .replace("capsule.3.", "mlp.2.").replace("capsule.5.", "mlp.4.")
                    .replace("head.0.", "head."))
            mapped[f"branches.{i}.{rest}"] = v
        try:
            self.load_state_dict(mapped)
        except RuntimeError as e:
            raise BandbridgeError(f"{path}: not GeoCLIP's location-encoder weights ({e})") from None
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "GeoCLIPLocationEncoder":
        return super().train(False)  # frozen, always

    def forward(self, latlon: Tensor) -> Tensor:
        """``(B, 2)`` degrees → Equal Earth (x, y), scaled as GeoCLIP scales them → ``(B, 512)``."""
        lat, lon = latlon[:, 0].float() * (math.pi / 180), latlon[:, 1].float() * (math.pi / 180)
        theta = torch.asin(math.sqrt(3.0) / 2 * torch.sin(lat))
        den = 3 * (9 * A4 * theta**8 + 7 * A3 * theta**6 + 3 * A2 * theta**2 + A1)
        x = 2 * math.sqrt(3.0) * lon * torch.cos(theta) / den
        y = A4 * theta**9 + A3 * theta**7 + A2 * theta**3 + A1 * theta
        p = torch.stack([x, y], 1) * SF / 180
        return sum(b(p) for b in self.branches)


def geoclip_weights_path() -> Path:
    """The weights file inside the installed `geoclip` package, found without importing it."""
    spec = importlib.util.find_spec("geoclip")
    if spec is None or not spec.submodule_search_locations:
        raise BandbridgeError("the GeoCLIP location encoder needs its weights: "
                              "pip install --no-deps geoclip (or set location.weights to the file)")
    p = Path(list(spec.submodule_search_locations)[0]) / "model" / "weights" / "location_encoder_weights.pth"
    if not p.exists():
        raise BandbridgeError(f"{p}: missing from the geoclip package; reinstall it")
    return p
