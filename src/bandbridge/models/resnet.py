"""ResNet encoder–decoder generator (pix2pix ``resnet_9blocks``: about 11.4 M parameters).

``encoder`` (7×7 conv + 2 stride-2 convs) → ``body`` (residual blocks at 1/4 resolution) →
``decoder``. Priors (location, sensor) are injected between encoder and body.
Input ``(B, Cin, H, W)`` in [0, 1]; output ``(B, Cout, H, W)`` in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from bandbridge.models.anchor import InputNorm
from bandbridge.models.layers import norm_layer, pad_to_multiple
from bandbridge.models.location import ConditionPrior, LocationPrior


class ResBlock(nn.Module):
    def __init__(self, ch: int, norm: str, dropout: bool, bias: bool):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), norm_layer(norm, ch),
            nn.ReLU(True), *([nn.Dropout(0.5)] if dropout else []),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), norm_layer(norm, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResNetGenerator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 1, ngf: int = 64,
                 n_blocks: int = 9, n_down: int = 2, norm: str = "instance",
                 dropout: bool = False, location: dict | None = None,
                 conditioning: dict | None = None, input_norm: str = "none"):
        super().__init__()
        bias = norm != "batch"
        self.norm_in = InputNorm(in_channels, input_norm)
        in_channels = self.norm_in.out_channels
        self.n_down = n_down
        enc: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                norm_layer(norm, ngf), nn.ReLU(True)]
        for i in range(n_down):
            c = ngf * 2**i
            enc += [nn.Conv2d(c, 2 * c, 3, 2, 1, bias=bias), norm_layer(norm, 2 * c), nn.ReLU(True)]
        self.encoder = nn.Sequential(*enc)
        self.bottleneck_channels = ngf * 2**n_down
        self.body = nn.Sequential(*[ResBlock(self.bottleneck_channels, norm, dropout, bias)
                                    for _ in range(n_blocks)])
        dec: list[nn.Module] = []
        for i in range(n_down, 0, -1):
            c = ngf * 2**i
            dec += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias),
                    norm_layer(norm, c // 2), nn.ReLU(True)]
        dec += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)
        # Location prior after the downsampling, before the residual blocks (NIR-GAN's place).
        self.prior = (LocationPrior(self.bottleneck_channels, **location)
                      if location is not None else None)
        self.condition = (ConditionPrior(self.bottleneck_channels, **conditioning)
                          if conditioning is not None else None)

    def residual_tail(self) -> nn.Module:
        """The block ending in the last convolution (zeroed when the network is a residual on a
        learner: models/anchored.py)."""
        return self.decoder

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, Cout, H, W)`` in [0, 1]: the raw output mapped from [−1, 1]."""
        y = (self.residual(x, context) + 1.0) * 0.5
        return y if self.training else y.clamp(0.0, 1.0)

    def residual(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """The raw output in [−1, 1] (tanh), cropped to the input's size: ``(B, Cout, H, W)``."""
        xn, maps = self.norm_in(x, context)
        x, (h, w) = pad_to_multiple(torch.cat([xn, maps], 1) * 2.0 - 1.0, 2**self.n_down)
        f = self.encoder(x)
        if self.prior is not None:
            f = self.prior(f, context)
        if self.condition is not None:
            f = self.condition(f, context)
        y = self.decoder(self.body(f))
        return y[..., :h, :w]
