"""How much memory this machine can still give, asked before a command allocates for a whole batch.

An allocation the kernel cannot back is not an error a program sees: Linux's OOM killer ends the process
(exit 137) and may take another program with it. The runtime (a model's call), ``bench model``'s peers,
``train`` and the readers of JPEG chunks and image folders estimate what they are about to hold and
compare it with :func:`available_bytes` first.
"""

from __future__ import annotations

#: Of the memory available, the share one estimate may take: estimates are not exact, and other runtimes
#: (``bench model``'s peers) or the backward pass (``train``) come on top.
SHARE = 0.5


def available_bytes() -> int | None:
    """MemAvailable of ``/proc/meminfo`` (what the kernel can give without swapping); None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def too_big(need: int, available: int | None) -> bool:
    """Whether ``need`` bytes exceed :data:`SHARE` of ``available`` (never when that is unknown)."""
    return available is not None and need > SHARE * available


def short_of(need: int) -> int | None:
    """The memory available when ``need`` bytes would take over :data:`SHARE` of it (the caller refuses);
    None when they fit, or when it is unknown."""
    available = available_bytes()
    return available if available is not None and too_big(need, available) else None


def over_half(available: int) -> str:
    """The words every refusal ends its estimate with."""
    return f"over half of the {gigabytes(available)} of memory available"


def largest_fitting(per_item: int, available: int) -> int:
    """The most items of ``per_item`` bytes that :func:`too_big` lets through (at least 1)."""
    return max(1, int(SHARE * available) // max(per_item, 1))


def gigabytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB"
