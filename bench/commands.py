"""What each ``bench`` command does, as typed requests and functions over the public API.

The CLI parses its arguments into one of these requests and calls the matching function; so can
any script. Messages and progress go through a ``UI`` (``Quiet`` says nothing), so nothing here
prints.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from attacks.base import RestartResult
from attacks.pointwise import PointwiseConfig
from bench import api, perf
from bench.checkpoints import find_checkpoint, partial_path
from bench.configs import (
    NAMED_RECIPES,
    PAPER_RECIPE,
    PAPER_RECIPES,
    CertifyConfig,
    DefenseConfig,
    PartitionConfig,
    TrainConfig,
)
from bench.data import Splits
from bench.errors import InputError
from bench.model_store import calibration_images
from bench.parallel import Backend, Failure, check_backend
from bench.registry import defense_family
from bench.training import TrainState
from defenses.smoothing import SmoothedClassifier
from reports.records import AttackRecord, CertifyRecord

__all__ = [
    "COMPARISONS",
    "UI",
    "AttackRequest",
    "Bar",
    "DataRequest",
    "EvalRequest",
    "PerfRequest",
    "Quiet",
    "TrainRequest",
    "run_attack",
    "run_evaluation",
    "run_perf",
    "run_train",
]

# `bench compare`: the defenses each comparison certifies on the same images by default
COMPARISONS: dict[str, tuple[str, ...]] = {
    "table7": ("lee-kappa0.3", "ablation-k45"),
    "table8": ("ablation-k45", "ablation-mean-k45"),
    "pairwise": ("ablation-k45",),
}


class Bar(Protocol):
    """A progress bar."""

    def update(self, n: int = 1) -> None: ...

    def postfix(self, **values: Any) -> None: ...


class UI(Protocol):
    """Where a command's messages and progress go."""

    def say(self, text: str) -> None:
        """A result or a note for the user."""

    def warn(self, text: str) -> None:
        """Something the user must know (the data is a stand-in, images failed)."""

    def bar(self, desc: str, total: int, unit: str, initial: int = 0) -> Any:
        """A context manager giving a ``Bar`` for ``total`` units, ``initial`` already done."""

    def resumable(self, text: str) -> None:
        """What an interruption from now on keeps, and how to resume."""


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def postfix(self, **values: Any) -> None:
        pass


class Quiet:
    """A UI that says nothing."""

    def say(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        pass

    @contextmanager
    def bar(self, desc: str, total: int, unit: str, initial: int = 0) -> Iterator[Bar]:
        yield _NoBar()

    def resumable(self, text: str) -> None:
        pass


@dataclass(frozen=True)
class DataRequest:
    """Which dataset, from where (None: the dataset's own search)."""

    dataset: str = "mnist"
    root: Path | None = None


@dataclass(frozen=True)
class TrainRequest:
    """``bench train``: a defense's base classifier with a named recipe (``NAMED_RECIPES``;
    "default": the defense's own, else the machine's), changed by ``overrides``
    (``TrainConfig`` fields), on the first ``limit`` training images (None: all), stopping after
    the first epoch past ``time_limit`` seconds (None: no limit)."""

    defense: str
    data: DataRequest = field(default_factory=DataRequest)
    models: Path = Path("models")
    device: str = "auto"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    limit: int | None = None
    force: bool = False
    recipe: str = "default"
    time_limit: float | None = None


@dataclass(frozen=True)
class Images:
    """Test images ``first``, ``first + every``, ``first + 2 every``, ... (``limit`` of them;
    None: to the end). ``every`` > 1 spreads them over a test set sorted by class (an image
    folder's)."""

    first: int = 0
    limit: int | None = None
    every: int = 1


@dataclass(frozen=True)
class Evaluation:
    """What certifying or attacking needs beyond the defense: where models and results are,
    the device and precision, CERTIFY's settings, the images, the seed and the workers."""

    data: DataRequest = field(default_factory=DataRequest)
    models: Path = Path("models")
    results: Path = Path("results/bench.sqlite")
    device: str = "auto"
    precision: str = "auto"
    settings: CertifyConfig = field(default_factory=CertifyConfig)
    images: Images = field(default_factory=Images)
    seed: int = 0
    jobs: int = 1
    backend: Backend = "local"
    scheduler: str | None = None


@dataclass(frozen=True)
class EvalRequest:
    """``bench certify``, ``sweep`` and ``compare``: certify each defense on the same images;
    ``train`` (a template whose defense is replaced) trains what is missing first."""

    defenses: tuple[str, ...]
    evaluation: Evaluation = field(default_factory=Evaluation)
    train: TrainRequest | None = None


@dataclass(frozen=True)
class AttackRequest:
    """``bench attack`` and ``run``: attack a defense (``options``: the attack's config fields).
    With ``train`` the defense is trained if missing; with ``certify_first`` the same images are
    certified; with ``report`` the report is written there at the end."""

    defense: str
    attack: str = "pointwise"
    options: Mapping[str, Any] = field(default_factory=dict)
    mask_policy: str = "fresh"
    evaluation: Evaluation = field(default_factory=Evaluation)
    train: TrainRequest | None = None
    certify_first: bool = False
    report: Path | None = None


@dataclass(frozen=True)
class PerfRequest:
    """``bench perf``: speed figures of a trained smoothed defense into ``out``."""

    defense: str = "ablation-k45"
    data: DataRequest = field(default_factory=DataRequest)
    models: Path = Path("models")
    device: str = "auto"
    precision: str = "auto"
    quick: bool = False
    overrides: Mapping[str, int] = field(default_factory=dict)
    attack: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    out: Path = Path("results/perf")


def load_data(data: DataRequest, ui: UI) -> Splits:
    """The splits, with one warning when they are a stand-in."""
    splits = api.load_dataset(data.dataset, data.root)
    if splits.notice:
        ui.warn(splits.notice)
    return splits


def _recipe(request: TrainRequest, config: DefenseConfig) -> TrainConfig:
    if request.recipe not in NAMED_RECIPES:
        raise InputError(f"unknown recipe {request.recipe!r}; one of {', '.join(NAMED_RECIPES)}")
    if request.recipe == "paper":
        base = PAPER_RECIPES.get(config.dataset, PAPER_RECIPE)
    else:
        base = NAMED_RECIPES[request.recipe] or api.recipe_for(config, request.device)
    try:
        return dataclasses.replace(base, **request.overrides)
    except ValueError as e:
        raise InputError(f"impossible training settings (bench train --help): {e}") from None


def run_train(request: TrainRequest, ui: UI, splits: Splits | None = None) -> api.TrainResult:
    """Train (or find trained) the request's defense; says where it went. Several
    comma-separated defenses are trained together (``run_train_together``); the first one's
    result is returned."""
    if "," in request.defense:
        return run_train_together(request, ui, splits)[0]
    config = api.defense_config(request.defense, dataset=request.data.dataset).trained_as()
    recipe = _recipe(request, config)  # bad names and settings fail before the data is read
    splits = _training_splits(request, ui, splits)
    found = find_checkpoint(request.models, config)
    if not found.exists():
        ui.say(f"no checkpoint at {found}: training {config.name} ({recipe.epochs} epochs, "
               f"{recipe.precision} steps, {len(splits.train):,} training images)")
    ui.resumable(f"finished epochs are saved in {partial_path(request.models, config)}; rerun "
                 "the same command to resume")
    total = recipe.epochs * len(splits.train)
    with ui.bar(f"train {config.name}", total, "img") as bar:
        def on_epoch(state: TrainState) -> None:
            last = state.history[-1]
            bar.postfix(epoch=state.epoch, loss=f"{last['loss']:.3f}",
                        acc=f"{last['train_sample_accuracy']:.3f}")

        result = api.train(config, splits, models=request.models, recipe=recipe,
                           device=request.device, force=request.force, on_step=bar.update,
                           on_epoch=on_epoch, time_limit=request.time_limit)
    if not result.trained:
        ui.say(f"{result.path} already trained with this recipe; nothing to do (--force "
               "retrains).")
        return result
    if not result.metrics.get("complete", True):
        ui.warn(f"--time-limit reached after {result.metrics['epochs']} of {recipe.epochs} "
                "epochs; the same command without the limit goes on from there")
    _say_saved(ui, config, result)
    return result


def _training_splits(request: TrainRequest, ui: UI, splits: Splits | None) -> Splits:
    """The splits to train on: the given or loaded ones, the first ``request.limit`` training
    images of them with a limit."""
    splits = splits if splits is not None else load_data(request.data, ui)
    if request.limit is None:
        return splits
    return Splits(splits.train.head(request.limit), splits.test, splits.notice)


def _say_saved(ui: UI, config: DefenseConfig, result: api.TrainResult) -> None:
    metrics = result.metrics
    what = ("mean submodel test" if isinstance(config, PartitionConfig)
            else "test" if config.noise_model() is None else "single-noise test")
    ui.say(f"saved {result.path}: {metrics['epochs']} epochs in "
           f"{metrics['train_seconds'] / 60:.1f} min, {what} accuracy "
           f"{100 * metrics['test_sample_accuracy']:.2f}%")


def run_train_together(request: TrainRequest, ui: UI,
                       splits: Splits | None = None) -> list[api.TrainResult]:
    """Train the request's comma-separated defenses together as one stacked network (one
    architecture, one recipe); says where each went."""
    names = [name.strip() for name in request.defense.split(",") if name.strip()]
    configs = [api.defense_config(name, dataset=request.data.dataset).trained_as()
               for name in names]
    if len(set(names)) != len(names):
        raise InputError(f"--defense names a defense twice: {request.defense}")
    recipes = {_recipe(dataclasses.replace(request, defense=c.name), c) for c in configs}
    if len(recipes) > 1:
        raise InputError("defenses trained together need one recipe: "
                         + ", ".join(names) + " have different ones")
    recipe = recipes.pop()
    splits = _training_splits(request, ui, splits)
    missing = [c.name for c in configs if not find_checkpoint(request.models, c).exists()]
    if missing:
        ui.say(f"training {', '.join(missing)} together ({recipe.epochs} epochs, "
               f"{recipe.precision} steps, {len(splits.train):,} training images)")
    ui.resumable("finished epochs are saved in a .partial.pt file per defense under "
                 f"{request.models}; rerun the same command to resume")
    total = recipe.epochs * len(splits.train)
    with ui.bar(f"train {len(configs)} defenses", total, "img") as bar:
        def on_epoch(states: list[TrainState]) -> None:
            bar.postfix(epoch=states[0].epoch,
                        loss=f"{min(s.history[-1]['loss'] for s in states):.3f}")

        results = api.train_together(configs, splits, models=request.models, recipe=recipe,
                                     device=request.device, force=request.force,
                                     on_step=bar.update, on_epoch=on_epoch,
                                     time_limit=request.time_limit)
    for config, result in zip(configs, results, strict=True):
        metrics = result.metrics
        if not result.trained:
            ui.say(f"{result.path} already trained with this recipe")
            continue
        if not metrics.get("complete", True):
            ui.warn(f"{config.name}: --time-limit reached after {metrics['epochs']} of "
                    f"{recipe.epochs} epochs")
        _say_saved(ui, config, result)
    return results


def _indices(images: Images, size: int) -> list[int]:
    if images.first >= size:
        raise InputError(f"--first {images.first} is past the {size} test images.")
    wanted = range(images.first, size, images.every)
    return list(wanted if images.limit is None else wanted[: images.limit])


def _defense(name: str, evaluation: Evaluation, splits: Splits) -> api.BuiltDefense:
    config = api.defense_config(name, dataset=evaluation.data.dataset,
                                precision=evaluation.precision, device=evaluation.device)
    calibration = calibration_images(splits.train) if config.precision == "int8" else None
    s = evaluation.settings
    return api.load_defense(config, models=evaluation.models, device=evaluation.device,
                            n0=s.n0, n=s.n, alpha=s.alpha, abstain=s.abstain,
                            certificate=s.certificate, batch_size=s.batch_size, rng=s.rng,
                            calibration=calibration)


def _certify(defense: api.BuiltDefense, evaluation: Evaluation, splits: Splits,
             wanted: list[int], ui: UI) -> list[CertifyRecord]:
    ui.resumable(f"finished images are stored in {evaluation.results}; rerun the same command "
                 "to resume")
    with ui.bar(f"certify {defense.name}", len(wanted), "img") as bar:
        def on_start(total: int, done: int) -> None:
            bar.update(done)

        records = api.certify(defense, splits.test, wanted, seed=evaluation.seed,
                              store=evaluation.results, jobs=evaluation.jobs,
                              backend=evaluation.backend, scheduler=evaluation.scheduler,
                              on_start=on_start, on_record=lambda record: bar.update(1))
    _missing(len(wanted) - len(records), evaluation.results, ui)
    return records


def _missing(failed: int, results: Path, ui: UI) -> None:
    if failed:
        ui.warn(f"{failed} images failed and are recorded in the failure table of {results}; "
                "rerun to retry them.")


def _check_parallel(evaluation: Evaluation) -> None:
    check_backend(evaluation.backend, evaluation.scheduler)
    if evaluation.jobs < 1:
        raise InputError(f"--jobs must be >= 1, got {evaluation.jobs}")


def run_evaluation(request: EvalRequest, ui: UI) -> list[list[CertifyRecord]]:
    """Certify each defense on the same images (training the missing ones first with
    ``request.train``); every checkpoint is checked before the results database is touched."""
    evaluation = request.evaluation
    _check_parallel(evaluation)
    for name in request.defenses:
        defense_family(name)  # unknown names fail before any work
    splits = load_data(evaluation.data, ui)
    wanted = _indices(evaluation.images, len(splits.test))
    if request.train is not None:
        for name in request.defenses:
            run_train(dataclasses.replace(request.train, defense=name), ui, splits)
    defenses = [_defense(name, evaluation, splits) for name in request.defenses]
    return [_certify(defense, evaluation, splits, wanted, ui) for defense in defenses]


def run_attack(request: AttackRequest, ui: UI
               ) -> tuple[list[CertifyRecord], list[AttackRecord]]:
    """Attack the defense (trained first if missing and ``request.train``; its images certified
    first with ``certify_first``; the report written into ``request.report`` at the end);
    returns (certificates, attack records)."""
    evaluation = request.evaluation
    _check_parallel(evaluation)
    defense_family(request.defense)
    attack = api.make_attack(request.attack, **request.options)
    splits = load_data(evaluation.data, ui)
    wanted = _indices(evaluation.images, len(splits.test))
    if request.train is not None:
        run_train(dataclasses.replace(request.train, defense=request.defense), ui, splits)
    defense = _defense(request.defense, evaluation, splits)
    certificates = (_certify(defense, evaluation, splits, wanted, ui) if request.certify_first
                    else [])
    restarts = attack.planned_restarts
    parallel = evaluation.jobs > 1 or evaluation.backend == "dask"
    ticked = 0  # restarts of the current image already shown
    with ui.bar(f"{attack.name} vs {defense.name}", len(wanted) * restarts, "restart") as bar:
        def on_start(total: int, done: int) -> None:
            bar.update(done * restarts)

        def on_restart(result: RestartResult) -> None:
            nonlocal ticked
            ticked += 1
            bar.update(1)

        def on_record(record: AttackRecord | Failure) -> None:
            # in this process the bar moves per restart (an ensemble that stops early, a clean
            # image already wrong: the rest here); with workers per finished image
            nonlocal ticked
            bar.update(restarts if parallel else max(0, restarts - ticked))
            ticked = 0
            if not isinstance(record, Failure):
                bar.postfix(image=record.image, l0=record.best_l0)

        records = api.attack(defense, attack, splits.test, wanted, seed=evaluation.seed,
                             mask_policy=request.mask_policy, store=evaluation.results,
                             jobs=evaluation.jobs, backend=evaluation.backend,
                             scheduler=evaluation.scheduler, on_start=on_start,
                             on_restart=on_restart, on_record=on_record)
    _missing(len(wanted) - len(records), evaluation.results, ui)
    if request.report is not None:
        api.report(evaluation.results, request.report, splits.test)
    return certificates, records


def run_perf(request: PerfRequest, ui: UI) -> dict[str, Any]:
    """Measure a trained smoothed defense (``bench.perf``); writes OUT/perf.json and perf.md."""
    base = perf.QUICK if request.quick else perf.FULL
    try:
        config = dataclasses.replace(base, **request.overrides)
    except TypeError as e:
        raise InputError(str(e)) from None
    name = api.defense_config(request.defense, dataset=request.data.dataset,
                              precision=request.precision, device=request.device)
    if name.noise_model() is None:
        raise InputError(f"bench perf measures smoothed defenses; {request.defense} is not one")
    splits = load_data(request.data, ui)
    calibration = calibration_images(splits.train)  # int8 is measured whatever the precision
    built = api.load_defense(name, models=request.models, device=request.device, n=config.n,
                             calibration=calibration)
    defense = built.defense
    if not isinstance(defense, SmoothedClassifier):
        raise InputError(f"bench perf measures smoothed defenses; {request.defense} is not one")
    try:
        search = PointwiseConfig(**request.attack)
    except (TypeError, ValueError) as e:
        raise InputError(f"pointwise: {e}") from None
    result: dict[str, Any] = {"defense": name.name, "model_id": built.model_id,
                              "precision": name.precision, "quick": request.quick,
                              "config": dataclasses.asdict(config), "machine": perf.machine()}
    with ui.bar("perf", 4 + config.attack_images * config.restarts, "step") as bar:
        result["matmul_gflops"] = {
            label: perf.matmul_gflops(config.matmul_size, dtype, config.rounds)
            for label, dtype in perf.MATMUL_DTYPES}
        bar.update()
        inputs = perf.throughput_inputs(defense, splits.test, config)
        result["forwards"] = perf.forward_perf(defense, inputs, calibration, config,
                                               CertifyConfig().batch_size)
        result["batches"] = perf.batch_perf(defense, inputs, config)
        bar.update()
        result["certify_s_per_image"] = perf.certify_perf(defense, splits.test,
                                                          config.certify_images, request.seed)
        bar.update()
        result["attack"] = perf.attack_perf(defense, splits.test, config, search, request.seed,
                                            on_restart=lambda _: bar.update())
        bar.update()
    request.out.mkdir(parents=True, exist_ok=True)
    (request.out / "perf.json").write_text(json.dumps(result, indent=2) + "\n")
    (request.out / "perf.md").write_text(perf.perf_table(result).markdown() + "\n")
    return result

