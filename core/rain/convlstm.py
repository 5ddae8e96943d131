"""The ConvLSTM cell (Shi et al. 2015): an LSTM whose gates are 2-D convolutions.

One convolution over the concatenation ``[input, hidden]`` produces all four gates at once, which is
both what the seed design does and the fastest layout (one large conv instead of eight small ones).
"""

from __future__ import annotations

import torch
from torch import nn


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step.

    Parameters
    ----------
    input_dim : int
        Channels of the input map.
    hidden_dim : int
        Channels of the hidden and cell states.
    kernel_size : int
        Odd square kernel; padding ``kernel_size // 2`` keeps the map size.
    bias : bool
        Whether the gate convolution has a bias.
    """

    def __init__(self, input_dim: int, hidden_dim: int, kernel_size: int = 3, bias: bool = True) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"ConvLSTMCell kernel_size must be a positive odd number, got {kernel_size}")
        if input_dim < 1 or hidden_dim < 1:
            raise ValueError(f"ConvLSTMCell needs input_dim and hidden_dim >= 1, got {input_dim}, {hidden_dim}")
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(
            input_dim + hidden_dim, 4 * hidden_dim, kernel_size=kernel_size, padding=kernel_size // 2, bias=bias
        )

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero ``(h, c)`` of shape ``[B, hidden, H, W]`` on the device, dtype and memory format of ``x``.

        Taking all three from the input (rather than the seed's ``.cuda()``) keeps CPU runs, GPU runs
        and channels_last runs working with the same code.
        """
        b, _, h, w = x.shape
        shape = (b, self.hidden_dim, h, w)
        channels_last = x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        zeros = torch.zeros(shape, device=x.device, dtype=x.dtype).contiguous(memory_format=fmt)
        return zeros, zeros.clone()

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance one step.

        ``x``: ``[B, input_dim, H, W]``; ``state``: ``(h, c)`` each ``[B, hidden_dim, H, W]`` or None for zeros.
        Returns the new ``(h, c)``.
        """
        if x.dim() != 4 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"ConvLSTMCell expected input [B, {self.input_dim}, H, W], got {tuple(x.shape)}"
            )
        h_cur, c_cur = self.init_state(x) if state is None else state
        gates = self.conv(torch.cat([x, h_cur.to(x.dtype)], dim=1))
        # one sigmoid over the three gates that need it: fewer passes over memory than three calls
        ifo = torch.sigmoid(gates[:, : 3 * self.hidden_dim])
        g = torch.tanh(gates[:, 3 * self.hidden_dim :])
        i, f, o = torch.split(ifo, self.hidden_dim, dim=1)
        c_next = f * c_cur + i * g
        h_next = o * torch.tanh(c_next)
        return h_next, c_next
