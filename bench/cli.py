"""The ``bench`` command line: argparse -> runner; progress bars live here and nowhere else.

Exit codes: 0 success, 2 bad usage or bad input, 1 a failure while running.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from tqdm import tqdm

from bench import perf
from bench.attacking import AttackJob, attack_images
from bench.checkpoints import load_checkpoint
from bench.cli_parser import COMPARISONS, PAPER_PROTOCOL, build_parser
from bench.configs import (
    AttackConfig,
    CertifyConfig,
    DefenseConfig,
    TrainConfig,
    checkpoint_dict,
)
from bench.data import Dataset, MnistSplits, load_mnist
from bench.errors import BenchError, InputError
from bench.parallel import (
    Failure,
    WorkerSpec,
    check_backend,
    run_parallel,
    threads_per_worker,
)
from bench.registry import ATTACKS, DEFENSES, default_train, resolve_attack, resolve_defense
from bench.runner import (
    CertifyJob,
    DataInfo,
    calibration_images,
    certify_images,
    load_defense,
    train_defense,
)
from bench.store import AttackRecord, CertifyRecord, ResultStore
from bench.training import TrainState
from defenses.precision import native_bf16
from defenses.smoothing import SmoothedClassifier
from defenses.undefended import Undefended
from reports.summary_text import certify_summary, comparison
from reports.tables import render_table2, summarize_attack
from reports.writer import write_report

__all__ = ["main"]

log = logging.getLogger("bench")
def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but no CUDA device is available. Use --device cpu.")
    return torch.device(name)


def _defense(name: str, args: argparse.Namespace) -> DefenseConfig:
    """The registered config, in the --precision asked for (the config's own by default)."""
    config = resolve_defense(name)
    precision = getattr(args, "precision", None)
    return config if precision is None else dataclasses.replace(config, precision=precision)


def _warn_emulated_bf16(args: argparse.Namespace, device: torch.device) -> None:
    """One warning per run for each flag that forces bf16 where ``device`` only emulates it."""
    if native_bf16(device):
        return
    for flag in ("precision", "train_precision"):
        if getattr(args, flag, None) == "bf16":
            log.warning("--%s bf16: this CPU has no native bf16 (AVX-512 BF16 or AMX), so it "
                        "is emulated and runs several times slower than fp32 (the default "
                        "here)", flag.replace("_", "-"))


def _train_config(config: DefenseConfig, args: argparse.Namespace) -> TrainConfig:
    if args.weight_decay < 0:
        raise InputError(f"--weight-decay must be >= 0, got {args.weight_decay}")
    if args.consistency < 0 or args.entropy < 0:
        raise InputError(f"--consistency and --entropy must be >= 0, got {args.consistency} "
                         f"and {args.entropy}")
    if not 0 <= args.ema < 1:
        raise InputError(f"--ema must be in [0, 1), got {args.ema}")
    if (args.consistency > 0 or args.entropy > 0) and args.copies < 2:
        raise InputError("--consistency and --entropy compare several ablations of an image: "
                         "they need --copies >= 2")
    if args.copies > 1 and args.mask_sharing == "per-batch":
        raise InputError("--copies > 1 needs --mask-sharing per-sample (a shared mask makes the "
                         "copies identical)")
    recipe = default_train(config.name)
    epochs = args.epochs if args.epochs is not None else recipe.epochs
    precision = args.train_precision if args.train_precision is not None else recipe.precision
    return TrainConfig(epochs=epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                       lr=args.lr, weight_decay=args.weight_decay, init=args.init,
                       mask_sharing=args.mask_sharing, copies=args.copies,
                       consistency=args.consistency, entropy=args.entropy, ema=args.ema,
                       precision=precision, seed=args.train_seed)


def _certify_config(args: argparse.Namespace) -> CertifyConfig:
    """CERTIFY/PREDICT parameters; `bench attack` has no --n0/--abstain and uses the defaults."""
    return CertifyConfig(n0=getattr(args, "n0", CertifyConfig.n0), n=args.n, alpha=args.alpha,
                         abstain=getattr(args, "abstain", False),
                         certificate=getattr(args, "certificate", CertifyConfig.certificate),
                         batch_size=args.forward_batch)


def _load_data(args: argparse.Namespace) -> MnistSplits:
    splits = load_mnist(args.data_root)
    if not splits.test.is_full:
        print(f"WARNING: full MNIST not found; using {splits.test.source} "
              f"({len(splits.train)} train / {len(splits.test)} test digits, all from MNIST's "
              "training split). Results are NOT comparable with the paper.", file=sys.stderr)
    return splits


def _train(config: DefenseConfig, args: argparse.Namespace, splits: MnistSplits,
           device: torch.device) -> None:
    train = _train_config(config, args)
    if args.train_limit is not None:
        splits = MnistSplits(splits.train.head(args.train_limit), splits.test)
    total = train.epochs * len(splits.train)
    # delay: no bar at all when an identical checkpoint exists and nothing is trained
    with tqdm(total=total, desc=f"train {config.name}", unit="img", unit_scale=True,
              file=sys.stderr, dynamic_ncols=True, delay=1.0) as bar:
        def on_epoch(state: TrainState) -> None:
            last = state.history[-1]
            bar.set_postfix(epoch=state.epoch, loss=f"{last['loss']:.3f}",
                            acc=f"{last['train_sample_accuracy']:.3f}")
            bar.n = state.epoch * len(splits.train)
            bar.refresh()

        path, trained = train_defense(config, train, splits, args.models, device=device,
                                      force=args.force, on_step=bar.update, on_epoch=on_epoch)
    if not trained:
        print(f"{path} already trained with this recipe; nothing to do (--force retrains).")
        return
    metrics = load_checkpoint(path, checkpoint_dict(config)).metrics
    what = {"ablation": "single-ablation test", "lee": "single-noise test"}.get(config.kind, "test")
    print(f"saved {path}: {metrics['epochs']} epochs in {metrics['train_seconds'] / 60:.1f} min, "
          f"{what} accuracy {100 * metrics['test_sample_accuracy']:.2f}%")


def _prepare(config: DefenseConfig, args: argparse.Namespace, device: torch.device,
             train: Dataset) -> tuple[SmoothedClassifier | Undefended, CertifyJob]:
    certify = _certify_config(args)
    defense, checkpoint = load_defense(config, certify, args.models, device=device,
                                       calibration=_calibration(config, train))
    return defense, CertifyJob(config, certify, checkpoint.model_id, args.seed)


def _calibration(config: DefenseConfig, train: Dataset) -> torch.Tensor | None:
    return calibration_images(train) if config.precision == "int8" else None


def _wanted(args: argparse.Namespace, test: Dataset) -> list[int]:
    wanted = list(range(args.start, min(len(test), args.start + args.limit)))
    if len(wanted) < args.limit:
        log.warning("only %d test images from --start %d", len(wanted), args.start)
    return wanted


def _certify(defense: SmoothedClassifier | Undefended, job: CertifyJob,
             args: argparse.Namespace, test: Dataset, store: ResultStore) -> list[CertifyRecord]:
    wanted = _wanted(args, test)
    done = store.done_images(job.run_hash, test.fingerprint, args.seed)
    todo = [i for i in wanted if i not in done]
    with tqdm(total=len(wanted), initial=len(wanted) - len(todo), desc=f"certify {defense.name}",
              unit="img", file=sys.stderr, dynamic_ncols=True) as bar:
        if _parallel(args):
            results: Iterator[Any] = _in_workers(defense, job, job.certify, test, todo, args)
        else:
            results = certify_images(defense, job, test, todo)
        _store_results(results, store, job.run_hash, test.fingerprint, args.seed,
                       lambda record: bar.update(1))
    records = store.records(job.run_hash, test.fingerprint, args.seed, images=wanted)
    if len(records) < len(wanted):
        print(f"WARNING: {len(wanted) - len(records)} images failed and are recorded in the "
              f"failure table of {args.results}; rerun to retry them.", file=sys.stderr)
    return records


def _search_config(args: argparse.Namespace) -> AttackConfig:
    """The default attack with the start search and L2 phase asked for (bench perf's attack)."""
    return AttackConfig(start_point=args.start_point, start_draws=args.start_draws,
                        init_steps=args.init_steps, start_n=args.start_n,
                        l2_binary_search=args.l2_binary_search)


def _attack_config(args: argparse.Namespace) -> AttackConfig:
    return dataclasses.replace(_search_config(args), attack=resolve_attack(args.attack),
                               restarts=args.restarts, n=args.n, alpha=args.alpha,
                               mask_policy=args.mask_policy)


def _parallel(args: argparse.Namespace) -> bool:
    return getattr(args, "jobs", 1) > 1 or getattr(args, "backend", "local") == "dask"


def _in_workers(defense: SmoothedClassifier | Undefended, job: CertifyJob | AttackJob,
                certify: CertifyConfig, test: Dataset, todo: list[int],
                args: argparse.Namespace) -> Iterator[Any]:
    """Records (and failures) of ``todo`` from --jobs local workers or the Dask cluster. Each
    worker gets the configs, the job, the data's origin, the weights and its torch threads."""
    weights = {k: v.cpu() for k, v in defense.model.state_dict().items()}
    threads = threads_per_worker(args.jobs) if args.backend == "local" else 1
    spec = WorkerSpec(job.config, certify, job, DataInfo.of(test), weights, threads,
                      defense.calibration)
    return run_parallel(spec, test.images[todo], test.labels[todo], todo, jobs=args.jobs,
                        backend=args.backend, scheduler=args.scheduler)


def _store_results(results: Iterator[Any], store: ResultStore, run_hash: str,
                   fingerprint: str, seed: int,
                   on_record: Callable[[Any], None]) -> None:
    for result in results:
        if isinstance(result, Failure):
            store.add_failure(run_hash, fingerprint, result.image, seed, result.error)
            log.warning("image %d failed twice: %s", result.image, result.error)
        else:
            store.add(result)
        on_record(result)


def _attack(defense: SmoothedClassifier | Undefended, job: AttackJob, args: argparse.Namespace,
            test: Dataset, store: ResultStore) -> list[AttackRecord]:
    wanted = _wanted(args, test)
    done = store.done_images(job.run_hash, test.fingerprint, args.seed, table="attack")
    todo = [i for i in wanted if i not in done]
    restarts = job.attack.restarts
    with tqdm(total=len(wanted) * restarts, initial=(len(wanted) - len(todo)) * restarts,
              desc=f"{job.attack.attack} vs {defense.name}", unit="restart", file=sys.stderr,
              dynamic_ncols=True) as bar:
        if _parallel(args):  # progress per image: restarts run inside the workers
            results: Iterator[Any] = _in_workers(defense, job, _certify_config(args), test,
                                                 todo, args)
        else:
            results = attack_images(defense, job, test, todo,
                                    on_restart=lambda result: bar.update(1))

        def on_record(record: Any) -> None:
            # in this process, the bar moves per restart; otherwise per finished image
            if _parallel(args) or isinstance(record, Failure) or record.clean_adversarial:
                bar.update(restarts)
            if not isinstance(record, Failure):
                bar.set_postfix(image=record.image, l0=record.best_l0)

        _store_results(results, store, job.run_hash, test.fingerprint, args.seed, on_record)
    return store.attack_records(job.run_hash, test.fingerprint, args.seed, images=wanted)


def _attack_command(args: argparse.Namespace, device: torch.device) -> None:
    config = _defense(args.defense, args)
    attack = _attack_config(args)
    splits = _load_data(args)
    if args.start >= len(splits.test):
        raise InputError(f"--start {args.start} is past the {len(splits.test)} test images.")
    if args.command == "run":
        _train(config, args, splits, device)
    certify = _certify_config(args)
    defense, checkpoint = load_defense(config, certify, args.models, device=device,
                                       calibration=_calibration(config, splits.train))
    job = AttackJob(config, attack, checkpoint.model_id, args.seed)
    certificates: list[CertifyRecord] = []
    with ResultStore(args.results) as store:
        if args.command == "run":
            certificates = _certify(defense, CertifyJob(config, certify, checkpoint.model_id,
                                                        args.seed), args, splits.test, store)
        records = _attack(defense, job, args, splits.test, store)
    if certificates:
        print(certify_summary([certificates]))
    print("\nTable 2 (median best-of-restarts Pointwise L0 in pixels, lower median; in brackets "
          "only adversarials an independent fresh re-check confirmed):\n")
    print(render_table2([summarize_attack(records, certificates)]))
    print(f"\nrecords: {args.results}")
    if args.command == "run":
        print(f"\nThe paper's protocol (hours per image on a CPU): {PAPER_PROTOCOL}")


def _perf_command(args: argparse.Namespace, device: torch.device) -> None:
    base = perf.QUICK if args.quick else perf.FULL
    overrides = {"attack_images": args.attack_images, "restarts": args.restarts, "n": args.n,
                 "certify_images": args.certify_images}
    config = dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
    defense_config = _defense(args.defense, args)
    if defense_config.kind == "undefended":
        raise InputError(f"bench perf measures smoothed defenses; {args.defense} is not one")
    splits = _load_data(args)
    calibration = calibration_images(splits.train)  # int8 is measured whatever the precision
    # build_defense keeps the calibration images for an int8 defense only
    defense, checkpoint = load_defense(defense_config, CertifyConfig(), args.models,
                                       device=device, calibration=calibration)
    assert isinstance(defense, SmoothedClassifier)  # not undefended, checked above
    result: dict[str, Any] = {"defense": defense_config.name, "model_id": checkpoint.model_id,
                              "precision": defense_config.precision, "quick": args.quick,
                              "config": dataclasses.asdict(config), "machine": perf.machine()}
    with tqdm(total=4 + config.attack_images * config.restarts, desc="perf", unit="step",
              file=sys.stderr) as bar:
        result["matmul_gflops"] = {
            name: perf.matmul_gflops(config.matmul_size, dtype, config.rounds)
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
        bar.update()
        inputs = perf.throughput_inputs(defense, splits.test, config)
        result["forwards"] = perf.forward_perf(defense, inputs, calibration, config,
                                               CertifyConfig().batch_size)
        result["batches"] = perf.batch_perf(defense, inputs, config)
        bar.update()
        result["certify_s_per_image"] = perf.certify_perf(defense, splits.test,
                                                          config.certify_images, args.seed)
        bar.update()
        result["attack"] = perf.attack_perf(defense, splits.test, config,
                                            _search_config(args),
                                            args.seed, on_restart=lambda _: bar.update())
        bar.update()
    table = perf.perf_table(result).markdown()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "perf.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "perf.md").write_text(table + "\n")
    print(table)
    print(f"\nwrote {args.out / 'perf.json'} and {args.out / 'perf.md'}")


def _run(args: argparse.Namespace) -> None:
    if args.command == "list":
        for entry in DEFENSES:
            print(f"{entry.display:<20} {entry.description} (e.g. {entry.example})")
        for name, description in ATTACKS.items():
            print(f"{name:<20} attack: {description}")
        return
    if args.command == "report":
        if not args.results.exists():
            raise InputError(f"no results database at {args.results}. Run bench certify or "
                             "bench attack first, or pass --results PATH.")
        try:  # the clean test images, for the figures that show them; optional
            test: Dataset | None = load_mnist(args.data_root, allow_download=False).test
        except InputError as e:
            log.warning("no MNIST for the image figures: %s", e)
            test = None
        written = write_report(args.results, args.out, test)
        print(f"wrote {len(written)} files; open {args.out / 'index.md'}")
        return
    device = _device(args.device)
    _warn_emulated_bf16(args, device)
    if args.command == "perf":
        _perf_command(args, device)
        return
    if hasattr(args, "backend"):
        check_backend(args.backend, args.scheduler)
    if args.command == "train":
        config = resolve_defense(args.defense)
        _train(config, args, _load_data(args), device)
        return
    if args.command in ("attack", "run"):
        _attack_command(args, device)
        return
    if args.command == "certify":
        configs = [_defense(args.defense, args)]
    elif args.command == "compare":
        configs = [_defense(name, args)
                   for name in (args.defenses or COMPARISONS[args.comparison])]
        if args.comparison == "pairwise" and any(c.kind != "ablation" for c in configs):
            raise InputError("the pairwise comparison is for ablation defenses only "
                             "(ablation-k{K}, ablation-mean-k{K}).")
    else:
        configs = [_defense(f"ablation-k{k}", args) for k in args.ks]
    splits = _load_data(args)
    if args.start >= len(splits.test):
        raise InputError(f"--start {args.start} is past the {len(splits.test)} test images.")
    if args.command in ("sweep", "compare"):
        for config in configs:
            _train(config, args, splits, device)
    # every checkpoint is checked before the results database is touched
    prepared = [_prepare(config, args, device, splits.train) for config in configs]
    with ResultStore(args.results) as store:
        results = [_certify(defense, job, args, splits.test, store) for defense, job in prepared]
    print(certify_summary(results))
    if args.command == "compare":
        print(comparison(args.comparison, results))
    print(f"\nrecords: {args.results}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bench`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        _run(args)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("bench: interrupted; finished images are stored, rerun to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
