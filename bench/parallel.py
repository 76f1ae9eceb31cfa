"""Per-image certification spread over local processes or a Dask cluster, through joblib.

The driver cuts the images into chunks and sends each worker a ``WorkerSpec`` (configs, the base
classifier's weights, where the data came from) and the chunk's uint8 images and labels. Workers
need neither the checkpoint file nor the dataset nor the results database: they return records,
and the driver alone writes them. Every image's random stream derives from (seed, image), so the
records equal a serial run's whatever the number of workers or the chunking.

A failing chunk is retried image by image; an image that fails twice comes back as a ``Failure``
(with its error) and the other images go on.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import joblib
import numpy as np
import torch

from bench.configs import CertifyConfig, DefenseConfig
from bench.errors import InputError
from bench.runner import CertifyJob, DataInfo, build_defense, certify_arrays
from bench.store import CertifyRecord
from bench.training import build_base_classifier

__all__ = ["Backend", "Failure", "WorkerSpec", "certify_parallel", "check_backend",
           "threads_per_worker"]

Backend = Literal["local", "dask"]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to certify images, sent with every task."""

    config: DefenseConfig
    certify: CertifyConfig
    job: CertifyJob
    info: DataInfo
    weights: dict[str, torch.Tensor]
    threads: int


@dataclass(frozen=True)
class Failure:
    """An image whose certification failed twice, with the last error (type, message, place)."""

    image: int
    error: str


def threads_per_worker(jobs: int) -> int:
    """Torch threads for each of ``jobs`` local workers: an equal share of the cores, at least 1."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def _certify_chunk(spec: WorkerSpec, images: np.ndarray, labels: np.ndarray,
                   indices: list[int]) -> list[CertifyRecord | Failure]:
    """A worker's task: certify a chunk; on an error, retry its images one at a time."""
    torch.set_num_threads(spec.threads)
    model = build_base_classifier(spec.config)
    model.load_state_dict(spec.weights)
    defense = build_defense(spec.config, spec.certify, model)
    try:
        return list(certify_arrays(defense, spec.job, spec.info, images, labels, indices))
    except Exception:
        pass
    out: list[CertifyRecord | Failure] = []
    for j, i in enumerate(indices):
        error = ""
        for _ in range(2):  # the first try and one retry
            try:
                out += certify_arrays(defense, spec.job, spec.info, images[j : j + 1],
                                      labels[j : j + 1], [i])
                break
            except Exception as e:
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


def _backend(backend: Backend, scheduler: str | None, jobs: int,
             spec: WorkerSpec) -> tuple[Any, int]:
    """The joblib configuration and n_jobs for a backend (InputError for impossible settings)."""
    check_backend(backend, scheduler)
    if backend == "local":
        return joblib.parallel_config(backend="loky", inner_max_num_threads=
                                      threads_per_worker(jobs)), jobs
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError("--backend dask needs dask.distributed: pip install -e '.[dask]'"
                         ) from None
    try:
        Client(scheduler, timeout=30)  # type: ignore[no-untyped-call]  # joblib uses it
    except OSError as e:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    # the spec (with the weights) goes to the workers once, not with every task
    return joblib.parallel_config(backend="dask", scatter=[spec]), -1


def certify_parallel(
    spec: WorkerSpec,
    images: np.ndarray,
    labels: np.ndarray,
    indices: Sequence[int],
    *,
    jobs: int,
    backend: Backend = "local",
    scheduler: str | None = None,
    chunk: int | None = None,
) -> Iterator[CertifyRecord | Failure]:
    """Certify test images ``indices`` (``images[j]``, ``labels[j]`` is image ``indices[j]``) on
    ``jobs`` local worker processes or on the Dask cluster at ``scheduler``; yields records (and
    failures) as chunks finish, in no particular order.

    Args:
        chunk: images per task (default: about four tasks per worker, at most 25 images).
    """
    if jobs < 1:
        raise InputError(f"--jobs must be >= 1, got {jobs}")
    config, n_jobs = _backend(backend, scheduler, jobs, spec)
    rows = list(indices)
    size = chunk or max(1, min(25, -(-len(rows) // (4 * max(1, jobs)))))
    starts = range(0, len(rows), size)
    tasks = (joblib.delayed(_certify_chunk)(spec, images[s : s + size], labels[s : s + size],
                                            rows[s : s + size]) for s in starts)
    with config:
        for result in joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks):
            yield from result
