"""Run identity: the document that says what a result is a result of, and its hash.

A certification run is identified by its dataset, threat model, defense config, the model's
weights (``model_id``) and its CERTIFY settings; an attack run by its dataset, threat model,
defense config, model, the smoothed defense's N and alpha with the query policy (stochastic
defenses only) and the attack's name and own config. A config contributes every field except
those its metadata marks as changing speed only (``bench.configs.SPEED_ONLY``). Records store the
document (JSON) and its hash; a rerun of the same command finds its records by that hash.

The schema is versioned. Schema 2 is written now. Schema 1 (the first release) left some fields
out by hand; ``*_v1`` rebuild its documents exactly, so results and checkpoints written by that
release are found, continued and never recomputed. A change that alters which fields identify a
run adds a schema version here instead of editing an earlier one. A field added to a config since
schema 2 (``bench.configs.ADDED``) appears only when it differs from its default, so documents
written before it are unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from enum import Enum
from typing import Any

from attacks.base import Attack
from bench.configs import CertifyConfig, DefenseConfig, TrainConfig

__all__ = [
    "SCHEMA",
    "attack_identity",
    "attack_identity_v1",
    "certify_identity",
    "certify_identity_v1",
    "checkpoint_identity",
    "checkpoint_identity_v1",
    "config_fields",
    "config_hash",
    "train_identity",
    "upgrade_train_v1",
]

SCHEMA = 2
"""The identity schema written by this release."""


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def config_fields(config: Any, *, trained_only: bool = False) -> dict[str, Any]:
    """A dataclass config as a JSON-ready dict (Enums as values, tuples as lists), without the
    fields that change speed only, without fields added after schema 2 that hold their default
    (``bench.configs.ADDED``) and, with ``trained_only``, without those that do not change which
    trained model a checkpoint holds."""
    out = {}
    for f in dataclasses.fields(config):
        if f.metadata.get("identity", True) is False:
            continue
        if trained_only and f.metadata.get("trained", True) is False:
            continue
        value = getattr(config, f.name)
        if f.metadata.get("omit_default", False) and value == f.default:
            continue
        out[f.name] = _plain(value)
    return out


def config_hash(*parts: Any) -> str:
    """A short stable hash (16 hex digits) of JSON-ready parts."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _certificate(config: DefenseConfig, certify: CertifyConfig) -> str:
    return certify.certificate or config.certificates[0]


def certify_identity(config: DefenseConfig, certify: CertifyConfig, model_id: str,
                     threat_model: str) -> dict[str, Any]:
    """The schema-2 identity of a certification run (an exact certificate's holds no sampling
    settings: N0, N and alpha change nothing there)."""
    settings = {} if config.exact else config_fields(certify)
    settings["certificate"] = _certificate(config, certify)
    return {"schema": SCHEMA, "dataset": config.dataset, "threat_model": threat_model,
            "defense": config_fields(config), "certify": settings, "model_id": model_id}


def _attack_fields(attack: Attack) -> dict[str, Any]:
    """An attack's name and config, with its members' (an ensemble's) when it has any."""
    doc = {"name": attack.name, **config_fields(attack.config)}
    if attack.members:
        doc["members"] = [_attack_fields(m) for m in attack.members]
    return doc


def attack_identity(config: DefenseConfig, certify: CertifyConfig, mask_policy: str,
                    attack: Attack, model_id: str, stochastic: bool) -> dict[str, Any]:
    """The schema-2 identity of an attack run; N, alpha and the query policy enter only for a
    stochastic defense."""
    doc: dict[str, Any] = {
        "schema": SCHEMA, "dataset": config.dataset, "threat_model": attack.threat_model,
        "defense": config_fields(config),
        "attack": _attack_fields(attack),
        "model_id": model_id,
    }
    if stochastic:
        doc["queries"] = {"n": certify.n, "alpha": certify.alpha, "mask_policy": mask_policy}
    return doc


def checkpoint_identity(config: DefenseConfig) -> dict[str, Any]:
    """What a checkpoint is trained for: the defense config without inference-only fields."""
    return config_fields(config, trained_only=True)


# --- schema 1 (the first release), frozen ------------------------------------------------------

_V1_KINDS = ("ablation", "lee", "undefended")
# training fields added during schema 1, with the values the checkpoints before them had
_V1_ADDED_TRAIN = {"copies": 1, "consistency": 0.0, "entropy": 0.0, "precision": "fp32",
                   "ema": 0.0}


def _defense_v1(config: DefenseConfig, trained_only: bool = False) -> dict[str, Any] | None:
    """Schema 1's defense dict: the built-in families on MNIST, without the dataset field."""
    if config.kind not in _V1_KINDS or config.dataset != "mnist":
        return None
    fields = config_fields(config, trained_only=trained_only)
    del fields["dataset"]
    return fields


def certify_identity_v1(config: DefenseConfig, certify: CertifyConfig,
                        model_id: str) -> dict[str, Any] | None:
    """Schema 1's identity of the same certification run (None: schema 1 could not express it).
    It named the certificate for ablation defenses only."""
    defense = _defense_v1(config)
    if defense is None or certify.rng != "cpu":
        return None
    settings = config_fields(certify)
    settings["certificate"] = _certificate(config, certify)
    if config.kind != "ablation":
        del settings["certificate"]
    return {"defense": defense, "certify": settings, "model_id": model_id}


def attack_identity_v1(config: DefenseConfig, certify: CertifyConfig, mask_policy: str,
                       attack: Attack, model_id: str, stochastic: bool) -> dict[str, Any] | None:
    """Schema 1's identity of the same Pointwise run (None: schema 1 could not express it). It
    left out N, alpha and the mask policy for a deterministic defense, and ``start_n`` unless the
    start search ran on fewer of the N fixed masks."""
    defense = _defense_v1(config)
    if defense is None or attack.name != "pointwise":
        return None
    fields = {"attack": attack.name, **config_fields(attack.config)}
    if stochastic:
        fields.update(n=certify.n, alpha=certify.alpha, mask_policy=mask_policy)
    if not (stochastic and mask_policy == "fixed" and fields["start_n"] < certify.n):
        del fields["start_n"]
    return {"defense": defense, "attack": fields, "model_id": model_id}


def checkpoint_identity_v1(config: DefenseConfig) -> dict[str, Any] | None:
    """What a schema-1 checkpoint of the same trained model says it was trained for."""
    return _defense_v1(config, trained_only=True)


def upgrade_train_v1(train: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 checkpoint's training recipe with the fields added since, at the values those
    checkpoints were trained with."""
    return {**_V1_ADDED_TRAIN, **train}


def train_identity(train: TrainConfig) -> dict[str, Any]:
    """A training recipe as checkpoints record it."""
    return config_fields(train)
