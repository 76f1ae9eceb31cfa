"""For each (defense, image), a certification record: CERTIFY, and PREDICT from the same votes.

Library code: yields records; never prints.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from bench.data import Dataset
from bench.errors import InputError
from bench.jobs import CertifyJob, DataInfo
from bench.seeding import image_generator
from bench.train_images import to_float
from defenses.base import Defense
from defenses.stats import predict_from_counts
from reports.records import CertifyRecord

__all__ = ["certify_arrays", "certify_images"]

_DRAWS_PER_CALL = 8192
_DETERMINISTIC_PER_CALL = 256  # images per call to a deterministic defense


def _rng_device(defense: Defense) -> torch.device:
    """Where a defense's noise is drawn with ``rng="device"``: its device (InputError for a
    defense that has none)."""
    device = getattr(defense, "device", None)
    if not isinstance(device, torch.device):
        raise InputError(f"{defense.name} has no device to draw its noise on; use --rng cpu")
    return device


def _check_images(x: torch.Tensor, indices: Sequence[int]) -> None:
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise InputError(f"images {list(indices)[:5]}... have NaN or out-of-range pixels")


def certify_images(
    defense: Defense,
    job: CertifyJob,
    data: Dataset,
    indices: Sequence[int],
) -> Iterator[CertifyRecord]:
    """CERTIFY (and PREDICT from the same N votes) each test image ``indices`` of ``data``."""
    rows = list(indices)
    yield from certify_arrays(defense, job, DataInfo.of(data), data.images[rows],
                              data.labels[rows], rows)


def certify_arrays(
    defense: Defense,
    job: CertifyJob,
    info: DataInfo,
    images: Any,
    labels: Any,
    indices: Sequence[int],
) -> Iterator[CertifyRecord]:
    """CERTIFY (and PREDICT from the same N votes) each image; yields one record per image.

    ``images[j]`` (uint8, (C, H, W)) and ``labels[j]`` are test image ``indices[j]``. Image i's
    noise comes from a generator seeded by (seed, i, "certify"), on the CPU or, with
    ``rng="device"``, on the defense's device, so records do not depend on the order, the
    grouping, the worker or a resume. Images are grouped so that one call holds about
    max(8,192, 8 forward batches) noise draws (one image at N = 10,000 and the CPU's batch of
    1,024; 26 at the forward batch of 32,768 that the GPU script uses), or 256 images for a
    deterministic defense.
    """
    # PREDICT of a deterministic defense is its answer; N0, N and alpha mean nothing to an exact
    # certificate, and its records hold 0 (those of a plain classifier keep the settings, as
    # they always have)
    sampled = defense.samples > 0
    exact = job.config.exact
    per_call = (max(1, max(_DRAWS_PER_CALL, 8 * job.certify.batch_size)
                    // max(job.certify.n0, job.certify.n)) if sampled else _DETERMINISTIC_PER_CALL)
    rng_device = _rng_device(defense) if job.certify.rng == "device" else torch.device("cpu")
    run_hash, config_json = job.run_hash, job.config_json
    for start in range(0, len(indices), per_call):
        group = list(indices[start : start + per_call])
        x = to_float(images[start : start + per_call])
        _check_images(x, group)
        gens = [image_generator(job.seed, i, "certify", rng_device) for i in group]
        began = time.perf_counter()
        certs = defense.certify(x, gens)
        seconds = (time.perf_counter() - began) / len(group)
        for j, (i, cert) in enumerate(zip(group, certs, strict=True)):
            label = int(labels[start + j])
            if sampled:
                prediction, pvalue = predict_from_counts(cert.counts, job.certify.alpha)
            else:  # a deterministic defense: its answer is PREDICT's
                prediction, pvalue = cert.label, 0.0
            correct = cert.label == label
            yield CertifyRecord(
                run_hash=run_hash, defense=job.config.name, model_id=job.model_id,
                dataset=info.name, data_source=info.source, data_fingerprint=info.fingerprint,
                image=i, label=label, certified_label=cert.label,
                radius=cert.radius if correct else -1, p_lower=cert.p_lower,
                selection_counts=cert.selection_counts, counts=cert.counts,
                prediction=prediction, abstained=prediction == -1, pvalue=pvalue,
                n0=0 if exact else job.certify.n0, n=0 if exact else job.certify.n,
                alpha=0.0 if exact else job.certify.alpha,
                certificate=cert.certificate, seconds=seconds, seed=job.seed,
                config=config_json, threat_model=job.threat_model,
            )
