"""Sharing the CPU cores between bench processes.

torch runs each operation on all cores by default, and its OpenMP threads wait for each other at
the end of every operation. Two bench processes on the same cores then keep preempting each
other's threads inside those waits: on a 2-core CPU, two ``bench train`` runs at once each fell
from 3,600 training images/s alone to 340 (OMP_WAIT_POLICY=PASSIVE made it 68). With one thread
each they ran at 2,260 images/s each (docs/performance.md, ``benchmarks/contention.py``).

So the command line gives each running bench process an equal share of the cores, counted again
every few seconds while it works, so that a run that started alone gives up threads when a second
one starts and takes them back when it ends. An explicit OMP_NUM_THREADS or BENCH_THREADS is
obeyed instead. The number of threads changes speed only, never a result (docs/performance.md).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from bench.errors import InputError

__all__ = ["CoreShare", "bench_processes", "fair_threads"]

_INTERVAL = 2.0  # seconds between counts of the running bench processes


def _is_bench(argv: list[str]) -> bool:
    """Whether a command line runs bench: ``bench ...``, ``python -m bench ...``."""
    if not argv:
        return False
    if Path(argv[0]).name == "bench":
        return True
    for i, arg in enumerate(argv[:-1]):
        if arg == "-m" and argv[i + 1] in ("bench", "bench.cli"):
            return True
    return len(argv) > 1 and Path(argv[1]).name == "bench" and "python" in Path(argv[0]).name


def bench_processes(proc: Path = Path("/proc")) -> int:
    """How many bench processes run on this machine, this one included (1 where /proc cannot
    be read)."""
    count = 0
    try:
        entries = list(proc.iterdir())
    except OSError:
        return 1
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if _is_bench([a.decode(errors="replace") for a in raw.split(b"\0") if a]):
            count += 1
    return max(1, count)


def fair_threads(cores: int | None = None, processes: int | None = None) -> int:
    """An equal share of ``cores`` (default: those this process may use) among ``processes``
    (default: the bench processes running now), at least 1."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if processes is None:
        processes = bench_processes()
    return max(1, cores // max(1, processes))


class CoreShare:
    """Keeps torch's intra-op threads at this process's share of the cores.

    ``update()`` is cheap to call often (it counts processes at most every two seconds); it
    does nothing when the user fixed the threads (OMP_NUM_THREADS or BENCH_THREADS).
    """

    def __init__(self) -> None:
        fixed = os.environ.get("BENCH_THREADS")
        self.enabled = "OMP_NUM_THREADS" not in os.environ
        if fixed:
            if not fixed.isdigit() or int(fixed) < 1:
                raise InputError(f"BENCH_THREADS must be a positive integer, got {fixed!r}")
            torch.set_num_threads(int(fixed))
            self.enabled = False
        self.checked = 0.0
        self.update()

    def update(self) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.checked < _INTERVAL:
            return
        self.checked = now
        threads = fair_threads()
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
