"""bench.identity: what identifies a run, in schema 2 and in the first release's schema 1."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from attacks.pointwise import Pointwise, PointwiseConfig
from bench.configs import CertifyConfig
from bench.identity import (
    SCHEMA,
    attack_identity,
    attack_identity_v1,
    certify_identity,
    certify_identity_v1,
    checkpoint_identity,
    checkpoint_identity_v1,
    config_fields,
    upgrade_train_v1,
)
from bench.jobs import AttackJob, CertifyJob
from bench.registry import resolve_defense

ABLATION, CNN = resolve_defense("ablation-k45"), resolve_defense("cnn")


def _some(doc: dict[str, Any] | None) -> dict[str, Any]:
    assert doc is not None
    return doc


def _attack(defense: str = "ablation-k45", policy: str = "fixed", n: int = 10000,
            **config: object) -> AttackJob:
    stochastic = defense != "cnn"
    return AttackJob(resolve_defense(defense), CertifyConfig(n=n), policy,
                     Pointwise(PointwiseConfig(**config)), "m", 0,  # type: ignore[arg-type]
                     stochastic)


def test_schema_2_names_dataset_threat_model_and_every_result_changing_field() -> None:
    doc = certify_identity(ABLATION, CertifyConfig(), "m", "l0-pixels")
    assert (doc["schema"], doc["dataset"], doc["threat_model"]) == (SCHEMA, "mnist", "l0-pixels")
    assert doc["defense"]["dataset"] == "mnist" and doc["defense"]["precision"] == "fp32"
    # the certificate is named (resolved to the defense's default), the forward batch is not
    assert doc["certify"]["certificate"] == "levine-feizi"
    assert "batch_size" not in doc["certify"]
    batch = certify_identity(ABLATION, CertifyConfig(batch_size=16), "m", "l0-pixels")
    assert batch == doc


def test_an_attack_run_holds_its_attack_config_and_the_queries_of_a_smoothed_defense() -> None:
    job = _attack(start_n=2000)
    doc = job.identity
    assert doc["attack"] == {"name": "pointwise", **config_fields(PointwiseConfig(start_n=2000))}
    assert doc["queries"] == {"n": 10000, "alpha": 0.05, "mask_policy": "fixed"}
    assert job.run_hash != _attack(start_n=3000).run_hash
    # a deterministic defense has no N, alpha or mask policy
    cnn = _attack("cnn").identity
    assert "queries" not in cnn
    assert _attack("cnn", n=10).run_hash == _attack("cnn", n=20, policy="fresh").run_hash


def test_schema_1_left_out_start_n_unless_the_start_stand_in_ran() -> None:
    # fixed masks with fewer start samples than N: the start search differs, so does the run
    used = _attack(policy="fixed", n=10000)
    legacy = dataclasses.replace(used, legacy=True)
    assert json.loads(legacy.config_json)["attack"]["start_n"] == 1000
    assert legacy.run_hash != dataclasses.replace(_attack(start_n=2000), legacy=True).run_hash
    # fresh masks, start_n >= N, or an undefended model: no stand-in, no start_n
    for job in (_attack(policy="fresh"), _attack(n=1000), _attack("cnn")):
        doc = dataclasses.replace(job, legacy=True).identity
        assert "start_n" not in doc["attack"] and "schema" not in doc
    assert (dataclasses.replace(_attack(n=1000), legacy=True).run_hash
            == dataclasses.replace(_attack(n=1000, start_n=5000), legacy=True).run_hash)
    assert "n" not in _attack("cnn").identity.get("queries", {})
    assert _some(attack_identity_v1(CNN, CertifyConfig(), "fixed", Pointwise(), "m", False))[
        "attack"].keys() == {"attack", "restarts", "start_point", "start_draws", "init_steps",
                             "l2_binary_search", "start_tries"}


def test_schema_1_named_the_certificate_of_ablation_defenses_only() -> None:
    lee = resolve_defense("lee-kappa0.3")
    assert "certificate" not in _some(certify_identity_v1(lee, CertifyConfig(), "m"))["certify"]
    v1 = _some(certify_identity_v1(ABLATION, CertifyConfig(certificate="pairwise"), "m"))
    assert v1["certify"]["certificate"] == "pairwise" and "dataset" not in v1["defense"]
    assert "batch_size" not in v1["certify"]


def test_schema_1_covers_the_first_release_only() -> None:
    # other datasets and attacks did not exist then
    other = dataclasses.replace(ABLATION, dataset="fashion")
    assert certify_identity_v1(other, CertifyConfig(), "m") is None
    assert not CertifyJob(other, CertifyConfig(), "m", 0).has_legacy
    assert attack_identity(ABLATION, CertifyConfig(), "fixed", Pointwise(), "m", True)
    with pytest.raises(ValueError, match="schema 1"):
        CertifyJob(other, CertifyConfig(), "m", 0, legacy=True).identity  # noqa: B018


def test_checkpoints_ignore_the_inference_precision() -> None:
    bf16 = dataclasses.replace(ABLATION, precision="bf16")
    assert checkpoint_identity(bf16) == checkpoint_identity(ABLATION)
    assert "precision" not in checkpoint_identity(ABLATION)
    assert _some(checkpoint_identity_v1(ABLATION)) == {
        k: v for k, v in checkpoint_identity(ABLATION).items() if k != "dataset"}
    # recipes of the first release predate some fields; they trained with these values
    assert upgrade_train_v1({"epochs": 3}) == {"epochs": 3, "copies": 1, "consistency": 0.0,
                                              "entropy": 0.0, "precision": "fp32", "ema": 0.0}


def test_fields_added_since_schema_2_enter_only_away_from_their_default() -> None:
    cpu = certify_identity(ABLATION, CertifyConfig(), "m", "l0-pixels")
    device = certify_identity(ABLATION, CertifyConfig(rng="device"), "m", "l0-pixels")
    assert "rng" not in cpu["certify"] and device["certify"]["rng"] == "device"
    # the first release drew on the CPU only: it cannot name a device-drawn run
    assert certify_identity_v1(ABLATION, CertifyConfig(rng="device"), "m") is None
    assert certify_identity_v1(ABLATION, CertifyConfig(), "m") is not None
    with pytest.raises(ValueError, match="rng"):
        CertifyConfig(rng="gpu")  # type: ignore[arg-type]


def test_an_ensemble_run_holds_every_member_config() -> None:
    from attacks.sigma_zero import SigmaZero, SigmaZeroConfig
    from bench.ensemble import Ensemble, EnsembleConfig

    def job(steps: int) -> AttackJob:
        ensemble = Ensemble(EnsembleConfig(attacks="sigma-zero,pointwise"),
                            [SigmaZero(SigmaZeroConfig(steps=steps)), Pointwise()])
        return AttackJob(CNN, CertifyConfig(), "fixed", ensemble, "m", 0, False)

    doc = job(300).identity["attack"]
    assert doc["name"] == "ensemble" and doc["attacks"] == "sigma-zero,pointwise"
    assert [m["name"] for m in doc["members"]] == ["sigma-zero", "pointwise"]
    assert doc["members"][0]["steps"] == 300
    assert job(300).run_hash != job(1000).run_hash
    assert "members" not in _attack().identity["attack"]  # an attack of its own has none
