"""The ``bench`` command line: arguments -> a typed request (``bench.commands``) -> the result,
printed. Progress bars live here and nowhere else, and only on a terminal.

Exit codes: 0 success, 2 bad usage or bad input, 1 a failure while running.
"""

from __future__ import annotations

import argparse
import logging
import sys
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import api, commands
from bench.cli_parser import build_parser
from bench.commands import (
    COMPARISONS,
    AttackRequest,
    DataRequest,
    EvalRequest,
    Evaluation,
    Images,
    PerfRequest,
    TrainRequest,
)
from bench.configs import PROFILES, CertifyConfig, Profile
from bench.cores import CoreShare
from bench.errors import BenchError, InputError
from bench.hardware import resolve_device
from bench.perf import perf_table
from bench.registry import (
    architectures,
    attack_class,
    attack_classes,
    dataset_entries,
    defense_families,
    load_plugins,
    resolve_defense,
)
from defenses.precision import native_bf16
from reports.summary_text import attack_summary, certify_summary, comparison

__all__ = ["main"]

# training flags -> TrainConfig fields
_TRAIN_FIELDS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
                 "optimizer": "optimizer", "weight_decay": "weight_decay", "init": "init",
                 "mask_sharing": "mask_sharing", "copies": "copies",
                 "consistency": "consistency", "entropy": "entropy", "ema": "ema",
                 "train_precision": "precision", "train_seed": "seed"}
_POINTWISE_FLAGS = ("start_point", "start_draws", "init_steps", "start_n", "l2_binary_search")


class _TqdmBar:
    def __init__(self, bar: tqdm[Any], cores: CoreShare | None) -> None:
        self.bar, self.cores = bar, cores

    def update(self, n: int = 1) -> None:
        self.bar.update(n)
        if self.cores is not None:  # progress is where a long run can rebalance its threads
            self.cores.update()

    def postfix(self, **values: Any) -> None:
        self.bar.set_postfix(**values)


class _Console:
    """The CLI's UI: results to stdout, warnings to stderr, progress bars on a terminal only."""

    def __init__(self) -> None:
        self.interrupted = "nothing was written"
        self.cores: CoreShare | None = None

    def say(self, text: str) -> None:
        print(text)

    def warn(self, text: str) -> None:
        print(f"WARNING: {text}", file=sys.stderr)

    @contextmanager
    def bar(self, desc: str, total: int, unit: str, initial: int = 0) -> Iterator[_TqdmBar]:
        with tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr,
                  dynamic_ncols=True, delay=0.5, unit_scale=unit == "img" and total > 99_999,
                  disable=not sys.stderr.isatty()) as bar:
            yield _TqdmBar(bar, self.cores)

    def resumable(self, text: str) -> None:
        self.interrupted = text


def _data(args: argparse.Namespace) -> DataRequest:
    return DataRequest(args.dataset, args.data_root)


def _train_request(args: argparse.Namespace, defense: str) -> TrainRequest:
    overrides = {field: getattr(args, flag) for flag, field in _TRAIN_FIELDS.items()
                 if getattr(args, flag) is not None}
    return TrainRequest(defense, _data(args), args.models, args.device, overrides,
                        args.train_limit, args.force, args.recipe, args.time_limit)


def _evaluation(args: argparse.Namespace, profile: Profile, limit: int | None) -> Evaluation:
    try:
        settings = CertifyConfig(
            n0=getattr(args, "n0", None) or profile.n0, n=args.n or profile.n,
            alpha=args.alpha or profile.alpha, abstain=getattr(args, "abstain", False),
            certificate=getattr(args, "certificate", None), batch_size=args.forward_batch,
            rng=getattr(args, "rng", "cpu"))
    except ValueError as e:
        raise InputError(str(e)) from None
    return Evaluation(_data(args), args.models, args.results, args.device, args.precision,
                      settings, Images(args.first, args.limit or limit, args.every), args.seed,
                      args.jobs, args.backend, args.scheduler)


def _converted(attack: str, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """--attack-option NAME=VALUE pairs as the attack's config field types."""
    config = attack_class(attack).config_type
    hints = typing.get_type_hints(config)
    out: dict[str, Any] = {}
    for name, text in pairs:
        if name not in hints:
            raise InputError(f"--attack-option {name}: {attack}'s config has no such field "
                             f"(it has {', '.join(sorted(hints))})")
        kind = hints[name]
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                out[name] = text.lower() in ("true", "1", "yes")
            elif kind in (int, float):
                out[name] = kind(text)
            else:
                out[name] = text
        except ValueError:
            raise InputError(f"--attack-option {name}={text}: not a {kind}") from None
    return out


def _attack_request(args: argparse.Namespace, run: bool) -> AttackRequest:
    profile = PROFILES[args.profile]
    shorthands = {flag: getattr(args, flag) for flag in _POINTWISE_FLAGS
                  if getattr(args, flag) is not None}
    if shorthands and args.attack != "pointwise":
        flags = ", ".join("--" + flag.replace("_", "-") for flag in shorthands)
        raise InputError(f"{flags}: pointwise options, but --attack is {args.attack}")
    # the profile's restarts are Pointwise's; another attack keeps its own unless asked
    restarts = args.restarts or (profile.restarts if args.attack == "pointwise" else None)
    options = {**({} if restarts is None else {"restarts": restarts}), **shorthands,
               **_converted(args.attack, args.attack_option)}
    report = (args.report or args.results.parent / "report") if run else None
    return AttackRequest(args.defense, args.attack, options,
                         args.mask_policy or profile.mask_policy,
                         _evaluation(args, profile, profile.attack_limit),
                         _train_request(args, args.defense) if run else None,
                         certify_first=run, report=report)


def _eval_request(args: argparse.Namespace) -> EvalRequest:
    profile = PROFILES[args.profile]
    evaluation = _evaluation(args, profile, profile.certify_limit)
    if args.command == "certify":
        return EvalRequest((args.defense,), evaluation)
    if args.command == "sweep":
        names = tuple(f"ablation-k{k}" for k in args.ks)
    else:
        names = args.defenses or COMPARISONS[args.comparison]
        if args.comparison == "pairwise" and any(
                "pairwise" not in resolve_defense(name, args.dataset).certificates
                for name in names):
            raise InputError("the pairwise comparison is for ablation defenses only "
                             "(ablation-k{K}, ablation-mean-k{K}).")
    return EvalRequest(names, evaluation, _train_request(args, names[0]))


def _report_hint(results: Path, written: Path | None = None) -> str:
    if written is not None:
        return (f"\nrecords: {results}\nreport: {written / 'index.md'} (bench report --results "
                f"{results} --out {written} writes it again)")
    return f"\nrecords: {results}\nreport: bench report --results {results}"


def _list() -> None:
    for family in defense_families():
        print(f"{family.display:<22} defense: {family.description} (e.g. {family.example})")
    for attack in attack_classes():
        print(f"{attack.name:<22} attack: {attack.description}")
    for dataset in dataset_entries():
        print(f"{dataset.name:<22} dataset: {dataset.description}")
    for arch in architectures():
        print(f"{arch.name:<22} architecture: {arch.description}")


def _perf_request(args: argparse.Namespace) -> PerfRequest:
    overrides = {k: getattr(args, k) for k in ("attack_images", "restarts", "n",
                                                "certify_images") if getattr(args, k) is not None}
    search = {flag: getattr(args, flag) for flag in _POINTWISE_FLAGS
              if getattr(args, flag) is not None}
    return PerfRequest(args.defense, _data(args), args.models, args.device, args.precision,
                       args.quick, overrides, search, args.seed, args.out)


def _warn_emulated_bf16(args: argparse.Namespace, ui: _Console) -> None:
    """One warning per run for each flag that forces bf16 where the device only emulates it."""
    forced = [flag for flag in ("precision", "train_precision") if getattr(args, flag, None)
              == "bf16"]
    if forced and not native_bf16(resolve_device(args.device)):
        for flag in forced:
            ui.warn(f"--{flag.replace('_', '-')} bf16: this CPU has no native bf16 (AVX-512 "
                    "BF16 or AMX), so it is emulated and runs several times slower than fp32 "
                    "(what --precision auto picks here)")


def _run(args: argparse.Namespace, ui: _Console) -> None:
    ui.cores = CoreShare()  # this process's share of the cores, kept up to date
    load_plugins(args.plugin)
    _warn_emulated_bf16(args, ui)
    if args.command == "list":
        _list()
    elif args.command == "train":
        commands.run_train(_train_request(args, args.defense), ui)
    elif args.command == "report":
        _report(args, ui)
    elif args.command == "perf":
        result = commands.run_perf(_perf_request(args), ui)
        print(perf_table(result).markdown())
        print(f"\nwrote {args.out / 'perf.json'} and {args.out / 'perf.md'}")
    elif args.command in ("attack", "run"):
        request = _attack_request(args, args.command == "run")
        certificates, records = commands.run_attack(request, ui)
        if certificates:
            print(certify_summary([certificates]))
        print(attack_summary(records, certificates))
        print(_report_hint(args.results, request.report))
        if args.command == "run" and args.profile != "paper":
            print(f"\nThe paper's protocol (hours per image on a CPU): bench run --defense "
                  f"{args.defense} --attack {args.attack} --profile paper")
    else:
        results = commands.run_evaluation(_eval_request(args), ui)
        print(certify_summary(results))
        if args.command == "compare":
            print(comparison(args.comparison, results))
        print(_report_hint(args.results))


def _report(args: argparse.Namespace, ui: _Console) -> None:
    if not args.results.exists():  # before looking for images
        raise InputError(f"no results database at {args.results}. Run bench certify or bench "
                         "attack first, or pass --results PATH.")
    try:  # the clean test images, for the figures that show them; optional
        test = api.load_dataset(args.dataset, args.data_root, allow_download=False,
                                allow_sample=False).test
    except InputError as e:
        ui.warn(f"{e} The figures that show test images are left out.")
        test = None
    written = api.report(args.results, args.out, test)
    print(f"wrote {len(written)} files; open {args.out / 'index.md'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bench`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ui = _Console()
    try:
        _run(args, ui)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"bench: interrupted; {ui.interrupted}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
