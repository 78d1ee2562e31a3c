"""U-Net generator (pix2pix ``unet_256`` at the defaults: depth 8, ngf 64, batch norm).

Input ``(B, Cin, H, W)`` model values in [0, 1]; output ``(B, Cout, H, W)`` in [0, 1].
Sizes that are not multiples of 2**depth are padded and cropped back.
"""

from __future__ import annotations

import torch
from torch import nn

from bandbridge.models.anchor import InputNorm, anchor_parts, anchored_output, guard_part, zero_last_conv
from bandbridge.models.layers import norm_layer, pad_to_multiple
from bandbridge.models.location import ConditionPrior, LocationPrior


class UNet(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 1, ngf: int = 64, depth: int = 8,
                 norm: str = "batch", dropout: bool = True, max_mult: int = 8,
                 upsample: str = "transpose", location: dict | None = None,
                 conditioning: dict | None = None, anchor: bool | dict = False, input_norm: str = "none",
                 guard: dict | None = None):
        super().__init__()
        if upsample not in ("transpose", "bilinear", "nearest"):
            raise ValueError(f"upsample must be 'transpose', 'bilinear' or 'nearest', got '{upsample}'")

        def up(cin: int, cout: int, b: bool) -> list[nn.Module]:
            # Resize-then-convolve ('nearest', 'bilinear') avoids transposed convolutions'
            # checkerboard artefacts; nearest resizing is the cheaper of the two on CPU.
            # 'transpose' is pix2pix's.
            if upsample == "transpose":
                return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=b)]
            kw = {"align_corners": False} if upsample == "bilinear" else {}
            return [nn.Upsample(scale_factor=2, mode=upsample, **kw),
                    nn.Conv2d(cin, cout, 3, 1, 1, bias=b)]

        self.depth = depth
        self.norm_in = InputNorm(in_channels, input_norm)
        in_bands, in_channels = in_channels, self.norm_in.out_channels
        bias = norm != "batch"  # batch norm has its own shift
        ch = [ngf * min(2**j, max_mult) for j in range(depth)]
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for j in range(depth):
            cin = in_channels if j == 0 else ch[j - 1]
            layers: list[nn.Module] = [] if j == 0 else [nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(cin, ch[j], 4, 2, 1, bias=bias))
            if 0 < j < depth - 1:
                layers.append(norm_layer(norm, ch[j]))
            self.down.append(nn.Sequential(*layers))
        for j in range(depth):
            cin = ch[j] if j == depth - 1 else 2 * ch[j]
            if j == 0:
                layers = [nn.ReLU(True), *up(cin, out_channels, True), nn.Tanh()]
            else:
                layers = [nn.ReLU(True), *up(cin, ch[j - 1], bias), norm_layer(norm, ch[j - 1])]
                # pix2pix: dropout as noise in the innermost 512→512 decoder blocks
                if dropout and j < depth - 1 and ch[j] == ch[j - 1] == ngf * max_mult:
                    layers.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*layers))
        # Location prior at the bottleneck, after all downsampling (see models/location.py).
        self.prior = LocationPrior(ch[-1], **location) if location is not None else None
        self.condition = ConditionPrior(ch[-1], **conditioning) if conditioning is not None else None
        # Baseline anchor (models/anchor.py): a 1×1 spectral map + this U-Net as a residual from 0.
        self.spectral, self.anchor_features = anchor_parts(in_bands, out_channels, anchor)
        self.guard = guard_part(in_bands, guard) if anchor else None  # never-worse: anchor.py
        self.clamp_output = True  # False only for an export's residual graph (runtime/trees.py)
        if anchor:
            zero_last_conv(self.residual_tail())

    def residual_tail(self) -> nn.Module:
        """The block ending in the residual's last convolution (zeroed to start at the anchor)."""
        return self.up[0]

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        x0 = x
        xn, maps = self.norm_in(x, context)
        x, (h, w) = pad_to_multiple(torch.cat([xn, maps], 1) * 2.0 - 1.0, 2**self.depth)
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        if self.prior is not None:
            skips[-1] = self.prior(skips[-1], context)
        if self.condition is not None:
            skips[-1] = self.condition(skips[-1], context)
        y = self.up[-1](skips[-1])
        for j in range(self.depth - 2, -1, -1):
            y = self.up[j](torch.cat([skips[j], y], 1))
        fade = None if self.guard is None or self.training else \
            self.guard(self.norm_in.stats(x0, context))
        return anchored_output(self.spectral, x0, y[..., :h, :w], self.training,
                               self.anchor_features, fade, self.clamp_output)
