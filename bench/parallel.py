"""Per-image certification and attacks spread over local processes or a Dask cluster, through
joblib.

The driver cuts the images into chunks and sends each worker a ``WorkerSpec`` (configs, the base
classifier itself, where the data came from, the plugin modules to import) and the chunk's uint8
images and labels. Workers need neither the checkpoint file nor the dataset nor the results
database: they import the plugins (so plugin defenses, attacks and architectures exist there too),
rebuild the defense, and return records; the driver alone writes them. Every image's random
stream derives from (seed, image), so the records equal a serial run's whatever the number of
workers or the chunking. A Dask cluster's workers must be able to import the plugin modules.

A failing chunk is retried image by image; an image that fails twice comes back as a ``Failure``
(with its error) and the other images go on. Attacks go one image per task (an attacked image
takes minutes).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import joblib
import numpy as np
import torch
from torch import nn

from bench.attacking import attack_arrays
from bench.configs import CertifyConfig, DefenseConfig
from bench.errors import InputError
from bench.jobs import AttackJob, CertifyJob, DataInfo
from bench.registry import load_plugins
from bench.runner import certify_arrays
from defenses.base import Defense
from reports.records import AttackRecord, CertifyRecord

__all__ = ["Backend", "Failure", "WorkerSpec", "check_backend", "run_parallel",
           "threads_per_worker"]

Backend = Literal["local", "dask"]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to certify or attack images: the defense (config, the certify
    config that sets N0, N and alpha, the base classifier on the CPU), the job whose records it
    makes, and the plugin modules that registered what the job uses."""

    config: DefenseConfig
    certify: CertifyConfig
    job: CertifyJob | AttackJob
    info: DataInfo
    model: nn.Module
    threads: int
    calibration: torch.Tensor | None = None  # training images, for an int8 base classifier
    plugins: tuple[str, ...] = ()
    plugin_paths: tuple[str, ...] = ()  # folders the driver imported plugins from


@dataclass(frozen=True)
class Failure:
    """An image whose certification failed twice, with the last error (type, message, place)."""

    image: int
    error: str


def threads_per_worker(jobs: int) -> int:
    """Torch threads for each of ``jobs`` local workers: an equal share of the cores, at least 1."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def _records(spec: WorkerSpec, defense: Defense, images: np.ndarray, labels: np.ndarray,
             indices: list[int]) -> list[CertifyRecord] | list[AttackRecord]:
    if isinstance(spec.job, CertifyJob):
        return list(certify_arrays(defense, spec.job, spec.info, images, labels, indices))
    return list(attack_arrays(defense, spec.job, spec.info, images, labels, indices))


def _chunk_task(spec: WorkerSpec, images: np.ndarray, labels: np.ndarray,
                indices: list[int]) -> list[CertifyRecord | AttackRecord | Failure]:
    """A worker's task: certify or attack a chunk; on an error, retry its images one by one."""
    torch.set_num_threads(spec.threads)
    load_plugins(spec.plugins, spec.plugin_paths)
    defense = spec.config.build(spec.model, spec.certify, calibration=spec.calibration)
    try:
        return [*_records(spec, defense, images, labels, indices)]
    except Exception:  # isolate the failing image below
        pass
    out: list[CertifyRecord | AttackRecord | Failure] = []
    for j, i in enumerate(indices):
        error = ""
        for _ in range(2):  # the first try and one retry
            try:
                out += _records(spec, defense, images[j : j + 1], labels[j : j + 1], [i])
                break
            except Exception as e:  # recorded as a failure; the others go on
                error = "".join(traceback.format_exception_only(type(e), e)).strip()
        else:
            out.append(Failure(i, error))
    return out


def check_backend(backend: Backend, scheduler: str | None) -> None:
    """InputError for settings that cannot work (before anything runs or is written)."""
    if backend == "local" and scheduler is not None:
        raise InputError("--scheduler is for --backend dask; drop it or add --backend dask.")
    if backend == "dask" and scheduler is None:
        raise InputError("--backend dask needs --scheduler ADDRESS (e.g. tcp://host:8786).")


@contextmanager
def _backend(backend: Backend, scheduler: str | None, jobs: int,
             spec: WorkerSpec) -> Iterator[int]:
    """Run joblib on a backend for the duration of the block; yields n_jobs (InputError for
    impossible settings). The Dask client is closed when the block ends."""
    check_backend(backend, scheduler)
    if backend == "local":
        with joblib.parallel_config(backend="loky",
                                    inner_max_num_threads=threads_per_worker(jobs)):
            yield jobs
        return
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError("--backend dask needs dask.distributed: pip install -e '.[dask]'"
                         ) from None
    try:
        client = Client(scheduler, timeout=30)  # type: ignore[no-untyped-call]  # joblib uses it
    except OSError as e:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    try:
        # the spec (with the weights) goes to the workers once, not with every task
        with joblib.parallel_config(backend="dask", scatter=[spec]):
            yield -1
    finally:
        client.close()  # type: ignore[no-untyped-call]


def run_parallel(
    spec: WorkerSpec,
    images: np.ndarray,
    labels: np.ndarray,
    indices: Sequence[int],
    *,
    jobs: int,
    backend: Backend = "local",
    scheduler: str | None = None,
    chunk: int | None = None,
) -> Iterator[CertifyRecord | AttackRecord | Failure]:
    """Certify or attack (``spec.job``) test images ``indices`` (``images[j]``, ``labels[j]`` is
    image ``indices[j]``) on ``jobs`` local worker processes or on the Dask cluster at
    ``scheduler``; yields records (and failures) as chunks finish, in no particular order.

    Args:
        chunk: images per task (default: one for attacks; for certification about four tasks
            per worker, at most 25 images).
    """
    if jobs < 1:
        raise InputError(f"--jobs must be >= 1, got {jobs}")
    rows = list(indices)
    default = 1 if isinstance(spec.job, AttackJob) else max(
        1, min(25, -(-len(rows) // (4 * max(1, jobs)))))
    size = chunk or default
    tasks = (joblib.delayed(_chunk_task)(spec, images[s : s + size], labels[s : s + size],
                                         rows[s : s + size])
             for s in range(0, len(rows), size))
    with _backend(backend, scheduler, jobs, spec) as n_jobs:
        for result in joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks):
            yield from result
