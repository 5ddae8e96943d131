"""ST-RainNet: a ConvLSTM U-Net that maps the last T frames of stacked weather channels to the next rain map.

Architecture (``depth`` = number of 2x down-samplings, 1 in the seed design)::

    x[:, t] -> ConvLSTM enc_0 (full res) -> maxpool 2x -> ConvLSTM enc_1 -> ... -> ConvLSTM bottleneck
    (all of them stepped over the T input frames)
    last bottleneck h -> bilinear 2x up -> concat skip h of enc_{d-1} -> ConvLSTM dec_{d-1} -> ... -> dec_0
    dec_0 h -> 1x1 conv -> ReLU -> rain (normalised, >= 0; the loss sees the pre-ReLU value)

The decoder runs once, at the last input time, starting from the encoder state of the same level (as
in the seed): predicting one frame needs no decoder recurrence, and this halves the cost at full
resolution. Grids whose sides are not multiples of ``2 ** depth`` are padded (replicate) and the
prediction is cropped back, so any H x W works.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.rain.convlstm import ConvLSTMCell


class STRainNet(nn.Module):
    """ConvLSTM U-Net for next-frame rain.

    Parameters
    ----------
    in_channels : int
        Channels per input frame (C; 56 for 11 levels x 5 variables + rain).
    hidden_channels : sequence of int
        Hidden channels per level, full resolution first; length ``depth + 1`` (the last is the
        bottleneck). A length-2 list such as ``[32, 64]`` gives the seed architecture.
    kernel_size : int
        Odd ConvLSTM kernel size.
    out_channels : int
        Leads predicted at once (direct multi-output): channel ``k`` is the rain ``k + 1`` steps ahead.
    residual : bool
        The last ``out_channels`` input channels of the last frame hold a first guess per lead (the
        extrapolation nowcast, normalised); the network adds a correction to it. The head starts at
        zero, so an untrained residual model returns the guess.
    """

    def __init__(self, in_channels: int, hidden_channels: Sequence[int] = (32, 64), kernel_size: int = 3,
                 out_channels: int = 1, residual: bool = False) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden_channels]
        if len(hidden) < 2:
            raise ValueError(
                f"STRainNet hidden_channels needs at least 2 entries (encoder, bottleneck), got {list(hidden_channels)}"
            )
        if in_channels < 1:
            raise ValueError(f"STRainNet in_channels must be >= 1, got {in_channels}")
        self.in_channels = in_channels
        self.hidden_channels = hidden
        self.depth = len(hidden) - 1
        self.kernel_size = kernel_size
        dims_in = [in_channels] + hidden[:-2]
        self.encoders = nn.ModuleList(
            [ConvLSTMCell(dims_in[i], hidden[i], kernel_size) for i in range(self.depth)]
        )
        self.bottleneck = ConvLSTMCell(hidden[-2], hidden[-1], kernel_size)
        # decoder at level i receives the up-sampled output of level i+1 and the skip of level i
        self.decoders = nn.ModuleList(
            [ConvLSTMCell(hidden[i + 1] + hidden[i], hidden[i], kernel_size) for i in range(self.depth)]
        )
        self.out_channels = int(out_channels)
        self.residual = bool(residual)
        if self.out_channels < 1 or (self.residual and in_channels <= self.out_channels):
            raise ValueError(f"STRainNet out_channels={out_channels} with residual={residual} needs more "
                             f"input channels than outputs, got in_channels={in_channels}")
        self.head = nn.Conv2d(hidden[0], self.out_channels, kernel_size=1)
        if self.residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.channels_last = False

    def use_channels_last(self, enabled: bool = True) -> "STRainNet":
        """Keep weights and per-step activations in NHWC memory order (faster convolutions on many CPUs)."""
        self.channels_last = bool(enabled)
        return self.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)

    def forward(self, x: torch.Tensor, clip: bool = True) -> torch.Tensor:
        """``x``: ``[B, T, C, H, W]`` normalised frames -> ``[B, out_channels, H, W]`` normalised rain (>= 0).

        ``clip=False`` returns the head's output before the ReLU. Training uses it: a pixel whose
        pre-activation went negative would pass no gradient through the ReLU, and with mostly-dry
        targets the whole map can die at 0 within a few steps. Predictions always use ``clip=True``.
        """
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise ValueError(f"STRainNet expected input [B, T, {self.in_channels}, H, W], got {tuple(x.shape)}")
        b, t, c, h, w = x.shape
        # the guide is added back in float32: through a half-precision cast it would lose ~0.4 %
        # (bf16) of every value, and an untrained residual model would no longer return its guide
        guide = x[:, -1, -self.out_channels :].float() if self.residual else None
        if torch.is_autocast_enabled(x.device.type):
            # run the recurrence in the autocast dtype: states then start (and stay) in bf16/fp16, and
            # the per-step float32 <-> half casts that dominate a mixed recurrence disappear
            x = x.to(torch.get_autocast_dtype(x.device.type))
        multiple = 2**self.depth
        pad_h, pad_w = (-h) % multiple, (-w) % multiple

        enc_states: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * self.depth
        bott_state: tuple[torch.Tensor, torch.Tensor] | None = None
        for step in range(t):
            frame = x[:, step]
            if pad_h or pad_w:
                frame = F.pad(frame, (0, pad_w, 0, pad_h), mode="replicate")
            if self.channels_last:
                frame = frame.contiguous(memory_format=torch.channels_last)
            feat = frame
            for level, cell in enumerate(self.encoders):
                enc_states[level] = cell(feat, enc_states[level])
                feat = F.max_pool2d(enc_states[level][0], 2)
            bott_state = cell_out = self.bottleneck(feat, bott_state)
        up = cell_out[0]
        for level in reversed(range(self.depth)):
            skip_h, skip_c = enc_states[level]
            up = F.interpolate(up, size=skip_h.shape[-2:], mode="bilinear", align_corners=False)
            up = self.decoders[level](torch.cat([up, skip_h.to(up.dtype)], dim=1), (skip_h, skip_c))[0]
        out = self.head(up)[..., :h, :w]
        if self.residual:
            out = out.float() + guide
        return F.relu(out) if clip else out


def build_model(in_channels: int, model_cfg: dict) -> STRainNet:
    """ST-RainNet from the ``model`` section of a rain config (``hidden_channels``, ``kernel_size``).

    ``leads`` (outputs) and ``residual`` are filled in by the pipeline from the ``nowcast`` section.
    """
    known = {"hidden_channels", "kernel_size", "leads", "residual"}
    unknown = set(model_cfg) - known
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in config section 'model'; allowed: {sorted(known)}")
    return STRainNet(
        in_channels,
        hidden_channels=model_cfg.get("hidden_channels", (32, 64)),
        kernel_size=int(model_cfg.get("kernel_size", 3)),
        out_channels=int(model_cfg.get("leads", 1)),
        residual=bool(model_cfg.get("residual", False)),
    )
