"""Mixed precision for either half: when autocast pays off on this device, and in which dtype.

On CUDA, float16 autocast with a gradient scaler (``amp: auto`` or ``true``). On the CPU, bfloat16
autocast only where it is faster than float32 (``amp: auto``), or when asked (``amp: true``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch


def _cpu_has_amx_bf16() -> bool:
    """True when the processor has AMX tiles with bfloat16 (Intel Sapphire Rapids and later)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        pass
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags.split()


@functools.lru_cache(maxsize=1)
def cpu_bf16_fast() -> bool:
    """True when bfloat16 autocast trains faster than float32 on this CPU.

    That takes AMX: measured with ``bench/rain_speed.py``, bf16 ran 2.8-2.9x the float32 throughput
    of ST-RainNet on an AMX processor but only 0.7-0.8x on an AVX-512 one without AMX, where oneDNN
    emulates much of the bf16 work. A try-run confirms the bf16 convolution works at all.
    """
    if not _cpu_has_amx_bf16():
        return False
    try:
        conv = torch.nn.Conv2d(2, 2, 3)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = conv(torch.ones(1, 2, 5, 5))
        return out.dtype == torch.bfloat16 and bool(torch.isfinite(out.float()).all())
    except RuntimeError:
        return False


def flag(value: object) -> str:
    """A config switch (``auto``, ``true``, ``false`` or a YAML boolean) as lower-case text."""
    return str(value).lower()


def amp_settings(device: torch.device, amp: object) -> tuple[bool, torch.dtype, bool]:
    """``(enabled, dtype, use_grad_scaler)`` of autocast for ``device`` and the config value ``amp``."""
    value = flag(amp)
    if device.type == "cuda":
        return value != "false", torch.float16, value != "false"
    if value == "true":
        return True, torch.bfloat16, False
    return value == "auto" and cpu_bf16_fast(), torch.bfloat16, False
