"""U-Net generator (pix2pix ``unet_256`` at the defaults: depth 8, ngf 64, batch norm).

Input ``(B, Cin, H, W)`` model values in [0, 1]; output ``(B, Cout, H, W)`` in [0, 1].
Sizes that are not multiples of 2**depth are padded and cropped back.
"""

from __future__ import annotations

import torch
from torch import nn

from bandbridge.models.anchor import InputNorm
from bandbridge.models.layers import norm_layer, pad_to_multiple
from bandbridge.models.location import ConditionPrior, LocationPrior


class UNet(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 1, ngf: int = 64, depth: int = 8,
                 norm: str = "batch", dropout: bool = True, max_mult: int = 8,
                 upsample: str = "transpose", location: dict | None = None,
                 conditioning: dict | None = None, input_norm: str = "none"):
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
        in_channels = self.norm_in.out_channels
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

    def residual_tail(self) -> nn.Module:
        """The block ending in the last convolution (zeroed when the network is a residual on a
        learner: models/anchored.py)."""
        return self.up[0]

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, Cout, H, W)`` in [0, 1]: the raw output mapped from [−1, 1]."""
        y = (self.residual(x, context) + 1.0) * 0.5
        return y if self.training else y.clamp(0.0, 1.0)

    def residual(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """The raw output in [−1, 1] (tanh), cropped to the input's size: ``(B, Cout, H, W)``."""
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
        return y[..., :h, :w]
