"""What identifies a run's records: the job of a certification or an attack run, and the data
its images come from.

A job's ``config_json`` is its identity document and ``run_hash`` that document's hash
(``bench.identity``). A run that an earlier release began under identity schema 1 is continued
under that identity (``continue_run``), so its records stay one run and none is recomputed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from attacks.base import Attack
from bench.configs import CertifyConfig, DefenseConfig
from bench.data import Dataset
from bench.identity import (
    attack_identity,
    attack_identity_v1,
    certify_identity,
    certify_identity_v1,
    config_hash,
)
from bench.store import ResultStore
from defenses.base import L0_PIXELS

__all__ = ["AttackJob", "CertifyJob", "DataInfo", "continue_run"]


@dataclass(frozen=True)
class DataInfo:
    """What a record says about the images' origin: dataset name, source and fingerprint."""

    name: str
    source: str
    fingerprint: str

    @classmethod
    def of(cls, data: Dataset) -> DataInfo:
        return cls(data.name, data.source, data.fingerprint)


class _Identified:
    """A job whose identity document is ``identity`` (schema 2) or, with ``legacy``, the same
    run's schema-1 document."""

    legacy: bool

    def _identity(self, legacy: bool) -> dict[str, Any] | None:
        raise NotImplementedError

    @property
    def identity(self) -> dict[str, Any]:
        doc = self._identity(self.legacy)
        if doc is None:
            raise ValueError("identity schema 1 cannot express this run")
        return doc

    @property
    def config_json(self) -> str:
        return json.dumps(self.identity, sort_keys=True)

    @property
    def run_hash(self) -> str:
        return config_hash(self.identity)

    @property
    def has_legacy(self) -> bool:
        """Whether identity schema 1 could express this run."""
        return self._identity(True) is not None


@dataclass(frozen=True)
class CertifyJob(_Identified):
    """A certification run: defense config, CERTIFY settings, model and seed."""

    table: ClassVar[str] = "certify"
    config: DefenseConfig
    certify: CertifyConfig
    model_id: str
    seed: int
    threat_model: str = L0_PIXELS
    legacy: bool = False

    def _identity(self, legacy: bool) -> dict[str, Any] | None:
        if legacy:
            return certify_identity_v1(self.config, self.certify, self.model_id)
        return certify_identity(self.config, self.certify, self.model_id, self.threat_model)


@dataclass(frozen=True)
class AttackJob(_Identified):
    """An attack run: defense config, its N and alpha (``certify``) and query policy when it is
    stochastic, the attack with its config, model and seed."""

    table: ClassVar[str] = "attack"
    config: DefenseConfig
    certify: CertifyConfig
    mask_policy: str
    attack: Attack
    model_id: str
    seed: int
    stochastic: bool
    legacy: bool = False

    def _identity(self, legacy: bool) -> dict[str, Any] | None:
        args = (self.config, self.certify, self.mask_policy, self.attack, self.model_id,
                self.stochastic)
        return attack_identity_v1(*args) if legacy else attack_identity(*args)


def continue_run(job: CertifyJob | AttackJob, store: ResultStore,
                 fingerprint: str) -> CertifyJob | AttackJob:
    """``job``, or the same run under identity schema 1 when ``store`` holds records of it under
    that identity and none under the current one."""
    if job.legacy or not job.has_legacy or store.has_run(job.run_hash, fingerprint, job.seed,
                                                         job.table):
        return job
    old = dataclasses.replace(job, legacy=True)
    return old if store.has_run(old.run_hash, fingerprint, job.seed, job.table) else job
