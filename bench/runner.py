"""For each (defense, image), build a record: training what is missing, then certifying.

Library code: yields records and reports progress through callbacks; never prints.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.checkpoints import (
    Checkpoint,
    atomic_torch_save,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from bench.configs import (
    AblationConfig,
    CertifyConfig,
    DefenseConfig,
    LeeConfig,
    TrainConfig,
    checkpoint_dict,
    config_dict,
    config_hash,
)
from bench.data import Dataset, MnistSplits
from bench.errors import InputError
from bench.seeding import image_generator
from bench.store import CertifyRecord
from bench.training import (
    TrainState,
    build_base_classifier,
    evaluate_sample_accuracy,
    to_float,
    train_base_classifier,
)
from defenses.ablation import RandomizedAblation
from defenses.base import Defense
from defenses.lee import LeeSmoothing
from defenses.smoothing import SmoothedClassifier
from defenses.stats import predict_from_counts
from defenses.undefended import Undefended

__all__ = [
    "CALIBRATION_IMAGES",
    "CertifyJob",
    "DataInfo",
    "build_defense",
    "calibration_images",
    "certify_arrays",
    "certify_images",
    "checkpoint_path",
    "load_defense",
    "same_recipe",
    "train_defense",
]

log = logging.getLogger(__name__)

# training images whose noised copies calibrate an int8 base classifier
CALIBRATION_IMAGES = 1024


def checkpoint_path(models: Path, config: DefenseConfig) -> Path:
    return Path(models) / f"{config.name}.pt"


def _partial_path(models: Path, config: DefenseConfig) -> Path:
    return Path(models) / f"{config.name}.partial.pt"


def _data_info(data: Dataset) -> dict[str, Any]:
    return {"fingerprint": data.fingerprint, "source": data.source, "images": len(data)}


# Training fields added after the first checkpoints were written, with the values those had.
_ADDED_TRAIN_FIELDS: dict[str, Any] = {"copies": 1, "consistency": 0.0, "entropy": 0.0,
                                        "precision": "fp32", "ema": 0.0}


def same_recipe(stored: dict[str, Any], train: dict[str, Any]) -> bool:
    """Whether a checkpoint's stored recipe is ``train`` (fields it predates count as neutral)."""
    return {**_ADDED_TRAIN_FIELDS, **stored} == train


def _read_partial(partial: Path, expected: dict[str, Any]) -> TrainState | None:
    """The resume point of an interrupted run with the same configs, or None (start over)."""
    if not partial.exists():
        return None
    try:
        raw = torch.load(partial, map_location="cpu", weights_only=True)
        if all(raw.get(key) == value for key, value in expected.items()):
            state = TrainState(**raw["state"])
            log.warning("resuming %s after epoch %d", partial.name, state.epoch)
            return state
        log.warning("ignoring %s: it belongs to another recipe or data set", partial)
    except Exception as e:  # truncated or foreign file: training starts over and replaces it
        log.warning("ignoring unreadable resume point %s (%s)", partial, type(e).__name__)
    return None


def train_defense(
    config: DefenseConfig,
    train: TrainConfig,
    splits: MnistSplits,
    models: Path,
    *,
    device: torch.device | str = "cpu",
    force: bool = False,
    on_step: Callable[[int], None] | None = None,
    on_epoch: Callable[[TrainState], None] | None = None,
) -> tuple[Path, bool]:
    """Train and save a defense's base classifier unless an identical one exists.

    Resumes from the per-epoch partial checkpoint when it has the same configs. Returns the
    checkpoint path and whether training ran. InputError when a checkpoint with another training
    config exists and ``force`` is not set.
    """
    final, partial = checkpoint_path(models, config), _partial_path(models, config)
    defense_d, train_d = checkpoint_dict(config), config_dict(train)
    data_info = _data_info(splits.train)
    if final.exists() and not force:
        existing = load_checkpoint(final, defense_d)
        if same_recipe(existing.train, train_d) and existing.train_data == data_info:
            return final, False
        raise InputError(
            f"{final} exists, trained with another recipe or data ({existing.train}, "
            f"{existing.train_data}). Pass --force to retrain it, or use another --models DIR."
        )
    resume = _read_partial(partial, {"defense": defense_d, "train": train_d,
                                     "train_data": data_info})

    def save_partial(state: TrainState) -> None:
        atomic_torch_save({"defense": defense_d, "train": train_d, "train_data": data_info,
                           "state": vars(state)}, partial)
        if on_epoch is not None:
            on_epoch(state)

    model, state = train_base_classifier(config, train, splits.train, device=device,
                                         resume=resume, on_step=on_step, on_epoch=save_partial)
    metrics: dict[str, Any] = {
        "train_seconds": state.seconds,
        "epochs": state.epoch,
        "history": state.history,
        "test_sample_accuracy": evaluate_sample_accuracy(model, config, splits.test,
                                                         train.seed, device=device),
        "test_fingerprint": splits.test.fingerprint,
    }
    save_checkpoint(final, model, defense_d, train_d, data_info, metrics)
    partial.unlink(missing_ok=True)
    return final, True


def _check_certificate(config: DefenseConfig, certify: CertifyConfig) -> None:
    if certify.certificate != "levine-feizi" and not isinstance(config, AblationConfig):
        raise InputError(f"--certificate {certify.certificate} applies to ablation defenses only; "
                         f"{config.name} has its own certificate. Drop --certificate.")


def calibration_images(train: Dataset) -> torch.Tensor:
    """The clean images that calibrate an int8 base classifier: the first CALIBRATION_IMAGES
    training images (float, [0, 1]); the defense noises one copy of each from a fixed seed."""
    return to_float(train.images[:CALIBRATION_IMAGES])


def _check_calibration(config: DefenseConfig, calibration: torch.Tensor | None) -> None:
    if config.precision == "int8" and calibration is None:
        raise InputError(f"{config.name} in int8 needs training images to calibrate; none "
                         "were given")


def build_defense(config: DefenseConfig, certify: CertifyConfig, model: torch.nn.Module, *,
                  device: torch.device | str = "cpu",
                  calibration: torch.Tensor | None = None) -> SmoothedClassifier | Undefended:
    """The defense around a trained base classifier: the smoothed classifier with ``certify``'s
    N0, N, alpha and certificate, or the undefended classifier, in ``config.precision``
    (``calibration``: ``calibration_images``, needed for int8 only)."""
    _check_certificate(config, certify)
    _check_calibration(config, calibration)
    if config.precision != "int8":
        calibration = None
    if not isinstance(config, AblationConfig | LeeConfig):
        return Undefended(model, precision=config.precision, calibration=calibration,
                          device=device, name=config.name)
    common = {"n0": certify.n0, "n": certify.n, "alpha": certify.alpha,
              "abstain": certify.abstain, "num_classes": config.num_classes,
              "batch_size": certify.batch_size, "precision": config.precision,
              "calibration": calibration, "device": device, "name": config.name}
    if isinstance(config, LeeConfig):
        return LeeSmoothing(model, config.kappa, num_values=config.num_values, **common)
    return RandomizedAblation(model, config.k, encoding=config.encoding, fill=config.fill,
                              certificate=certify.certificate, **common)


def load_defense(
    config: DefenseConfig,
    certify: CertifyConfig,
    models: Path,
    *,
    device: torch.device | str = "cpu",
    calibration: torch.Tensor | None = None,
) -> tuple[SmoothedClassifier | Undefended, Checkpoint]:
    """The defense of a trained checkpoint (InputError when missing or mismatched; see
    ``build_defense``)."""
    _check_certificate(config, certify)  # before any I/O
    _check_calibration(config, calibration)
    checkpoint = load_checkpoint(checkpoint_path(models, config), checkpoint_dict(config))
    model = load_weights(build_base_classifier(config), checkpoint).to(device)
    return build_defense(config, certify, model, device=device,
                         calibration=calibration), checkpoint


@dataclass(frozen=True)
class CertifyJob:
    """What identifies a certification run's records: configs, model and seed."""

    config: DefenseConfig
    certify: CertifyConfig
    model_id: str
    seed: int

    @property
    def config_json(self) -> str:
        # the certificate choice exists for ablation defenses only; the others name their own
        exclude = ("batch_size",) if self.config.kind == "ablation" else ("batch_size",
                                                                          "certificate")
        return json.dumps(
            {"defense": config_dict(self.config),
             "certify": config_dict(self.certify, exclude=exclude),
             "model_id": self.model_id},
            sort_keys=True,
        )

    @property
    def run_hash(self) -> str:
        return config_hash(json.loads(self.config_json))


def _check_images(x: torch.Tensor, indices: Sequence[int]) -> None:
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise InputError(f"images {list(indices)[:5]}... have NaN or out-of-range pixels")


@dataclass(frozen=True)
class DataInfo:
    """What a record says about the images' origin: dataset name, source and fingerprint."""

    name: str
    source: str
    fingerprint: str

    @classmethod
    def of(cls, data: Dataset) -> DataInfo:
        return cls(data.name, data.source, data.fingerprint)


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
    ablations come from a generator seeded by (seed, i, "certify"), so records do not depend on
    the order, the grouping, the worker or a resume. Images are grouped so that one call holds
    about 8,192 ablations (many images at small N, one at N = 10,000).
    """
    per_call = max(1, 8192 // max(job.certify.n0, job.certify.n))
    for start in range(0, len(indices), per_call):
        group = list(indices[start : start + per_call])
        x = to_float(images[start : start + per_call])
        _check_images(x, group)
        gens = [image_generator(job.seed, i, "certify") for i in group]
        began = time.perf_counter()
        certs = defense.certify(x, gens)
        seconds = (time.perf_counter() - began) / len(group)
        for j, (i, cert) in enumerate(zip(group, certs, strict=True)):
            label = int(labels[start + j])
            if cert.counts:
                prediction, pvalue = predict_from_counts(cert.counts, job.certify.alpha)
            else:  # a deterministic defense: its answer is PREDICT's
                prediction, pvalue = cert.label, 0.0
            correct = cert.label == label
            yield CertifyRecord(
                run_hash=job.run_hash, defense=job.config.name, model_id=job.model_id,
                dataset=info.name, data_source=info.source, data_fingerprint=info.fingerprint,
                image=i, label=label, certified_label=cert.label,
                radius=cert.radius if correct else -1, p_lower=cert.p_lower,
                selection_counts=cert.selection_counts, counts=cert.counts,
                prediction=prediction, abstained=prediction == -1, pvalue=pvalue,
                n0=job.certify.n0, n=job.certify.n, alpha=job.certify.alpha,
                certificate=cert.certificate, seconds=seconds, seed=job.seed,
                config=job.config_json,
            )
