"""A per-pixel learner as a generator: ``y = f(φ(x))`` with ``φ`` the fixed context features
(models/features.py: the bands, their local means and standard deviations, their products) and ``f``
one of the small-data learners ``learners/`` fits and chooses:

- ``constant``, ``linear``, ``ridge``: ``f`` a 1×1 convolution ``W·φ + b`` (closed-form fits);
- ``mlp``: two hidden layers of 1×1 convolutions with ReLU on standardised ``φ``;
- ``gbm``: gradient-boosted trees, one LightGBM model per target band, kept as LightGBM's own
  text model in a ``uint8`` buffer (so safetensors holds it and loading never unpickles); the
  trees run in LightGBM itself, never in hand-written code.

No residual network and no guard: the learner was refitted on the user's own pixels, so it is
never faded towards another fit. Input ``(B, Ci, H, W)`` model values; output ``(B, Ct, H, W)``
clamped to [0, 1]. Edge pixels need the context windows' halo (``max(windows) // 2``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from bandbridge.models.features import ContextFeatures

KINDS = ("constant", "linear", "ridge", "mlp", "gbm")
GBM_CHUNK = 1 << 20  # pixels per LightGBM call: bounds the float64 copy of the features


class PixelLearner(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 1, kind: str = "linear",
                 windows: list[int] | tuple[int, ...] = (), products: bool = False,
                 hidden: int = 32, gbm_bytes: list[int] | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"learner kind must be one of {KINDS}, got '{kind}'")
        if kind == "gbm" and (not gbm_bytes or len(gbm_bytes) != out_channels):
            raise ValueError(f"a gbm learner needs gbm_bytes, one length per target band "
                             f"({out_channels})")
        self.kind, self.out_channels = kind, out_channels
        self.features = ContextFeatures(in_channels, tuple(windows), products)
        f = self.features.out_channels
        if kind in ("constant", "linear", "ridge"):
            self.head = nn.Conv2d(f, out_channels, 1)
        elif kind == "mlp":
            self.register_buffer("mu", torch.zeros(f))
            self.register_buffer("sd", torch.ones(f))
            self.head = nn.Sequential(nn.Conv2d(f, hidden, 1), nn.ReLU(),
                                      nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                                      nn.Conv2d(hidden, out_channels, 1))
        else:
            self.gbm_bytes = [int(n) for n in gbm_bytes]
            self.register_buffer("trees", torch.zeros(sum(self.gbm_bytes), dtype=torch.uint8))
            self._boosters: list | None = None
        self.requires_grad_(False)  # fitted in closed form or by learners/, never by a GAN step

    @property
    def halo(self) -> int:
        """Pixels whose output depends on pixels this far away (the largest window's half)."""
        return max(self.features.windows or (1,)) // 2

    def set_trees(self, texts: list[str]) -> None:
        """Store LightGBM text models (one per target band) in the ``trees`` buffer."""
        raw = [t.encode() for t in texts]
        self.gbm_bytes = [len(r) for r in raw]
        self.trees = torch.frombuffer(bytearray(b"".join(raw)), dtype=torch.uint8).clone()
        self._boosters = None

    def tree_texts(self) -> list[str]:
        """The LightGBM text models held in ``trees``, one per target band."""
        raw, out, at = self.trees.numpy().tobytes(), [], 0
        for n in self.gbm_bytes:
            out.append(raw[at:at + n].decode())
            at += n
        return out

    def boosters(self) -> list:
        if self._boosters is None:
            import lightgbm as lgb
            self._boosters = [lgb.Booster(model_str=t) for t in self.tree_texts()]
        return self._boosters

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        # features in the weights' precision (bf16 under a bf16 backend; trees: float32)
        dt = torch.float32 if self.kind == "gbm" else next(self.head.parameters()).dtype
        f = self.features(x.to(dt))
        if self.kind == "gbm":
            y = self.predict_trees(f)
        elif self.kind == "mlp":
            y = self.head((f - self.mu[:, None, None]) / self.sd[:, None, None])
        else:
            y = self.head(f)
        return y.to(x.dtype) if self.training else y.clamp(0.0, 1.0).to(x.dtype)

    def predict_trees(self, f: Tensor) -> Tensor:
        """The boosted trees on features ``f (B, F, H, W)`` → ``(B, Ct, H, W)``."""
        b, c, h, w = f.shape
        a = f.detach().permute(0, 2, 3, 1).reshape(-1, c).cpu().numpy()
        out = np.empty((len(a), self.out_channels), np.float32)
        for i in range(0, len(a), GBM_CHUNK):
            part = a[i:i + GBM_CHUNK].astype(np.float64)
            for k, booster in enumerate(self.boosters()):
                out[i:i + GBM_CHUNK, k] = booster.predict(part, num_threads=0)
        y = torch.from_numpy(out).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return y.to(f.device).contiguous()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if self.kind == "gbm":
            self._boosters = None


def anchor_as_learner(generator: nn.Module, in_channels: int) -> tuple[PixelLearner, dict]:
    """An anchored generator whose residual is switched off, as the learner it is: the anchor's
    1×1 map on the same context features, without the network that would add zeros. Returns the
    learner and its generator arguments (``{"kind", "windows", "products"}``)."""
    feats = getattr(generator, "anchor_features", None)
    args = {"kind": "ridge" if feats is not None else "linear",
            "windows": list(feats.windows) if feats is not None else [],
            "products": bool(feats.products) if feats is not None else False}
    out = generator.spectral.out_channels
    g = PixelLearner(in_channels, out, **args)
    with torch.no_grad():
        g.head.weight.copy_(generator.spectral.weight.float())
        g.head.bias.copy_(generator.spectral.bias.float())
    return g.eval(), args


def learner_anchor(in_channels: int, out_channels: int, anchor: dict) -> nn.Module:
    """An anchored network's anchor from its fitted arguments: ``{learner: {kind, …}}`` or
    ``{blend: [parts]}`` (models/anchor.py: anchor_parts)."""
    if "blend" in anchor:
        return BlendLearner(in_channels, out_channels, list(anchor["blend"]))
    return PixelLearner(in_channels, out_channels, **anchor["learner"])


class BlendLearner(nn.Module):
    """The mean of several per-pixel learners (``parts``: each one's PixelLearner arguments):
    what the selection core hands back when averaging its best learners scores lower out of fold
    than any one of them. Output ``(B, Ct, H, W)`` in [0, 1]."""

    kind = "blend"

    def __init__(self, in_channels: int = 3, out_channels: int = 1, parts: list[dict] = ()):
        super().__init__()
        if len(parts) < 2:
            raise ValueError("a blend needs two or more parts")
        self.out_channels = out_channels
        self.parts = nn.ModuleList(PixelLearner(in_channels, out_channels, **a) for a in parts)

    @property
    def halo(self) -> int:
        return max(p.halo for p in self.parts)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return torch.stack([p(x) for p in self.parts]).mean(0)
