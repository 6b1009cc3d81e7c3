"""Peak memory of a block of code: this process's resident set, sampled by a thread (CPU
torch has no allocator statistics), and torch's own peak on CUDA."""

from __future__ import annotations

import os
import resource
import threading
from types import TracebackType

import torch

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MIB = 2**20


def rss_bytes() -> int:
    """This process's resident set size now (Linux /proc; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """`with PeakMemory() as m: ...` then m.rss_mib (peak RSS while inside, sampled every
    `interval` seconds), m.growth_mib (that peak above the RSS on entry) and m.torch_mib
    (CUDA peak allocated, None on CPU)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.start, self.peak = interval, 0, 0
        self.torch_mib: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = rss_bytes()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        if torch.cuda.is_available():
            self.torch_mib = torch.cuda.max_memory_allocated() / MIB

    @property
    def rss_mib(self) -> float:
        return self.peak / MIB

    @property
    def growth_mib(self) -> float:
        """How far the peak rose above the resident set at the start (the training's own)."""
        return (self.peak - self.start) / MIB
