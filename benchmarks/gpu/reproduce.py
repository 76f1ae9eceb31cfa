"""Reproduce the paper's MNIST tables on one GPU inside a fixed time budget.

Run through ``benchmarks/gpu/reproduce.sh OUT`` (it prepares the environment); this driver runs
the ``bench`` commands phase by phase, each phase inside its share of the budget, and packs what
they wrote into OUT (at most 8 files). Phases, by value:

  a. train ablation-k45 with the default recipe and the default recipe's models for Table 1's k
     sweep, several trainings at once; the paper's recipe (``--recipe paper``, 400 epochs)
     trains beside phases a to c;
  b. certify all 10,000 test images with the default recipe's k = 45 model (N0 = 1,000,
     N = 10,000, alpha = 0.05; the paper's certificate and, from the same votes, the pairwise
     one);
  c. certify all 10,000 test images with each model of the k sweep that was trained;
  p. the same as b with the paper recipe's model, once its training stopped;
  d. Pointwise x 10 with fresh masks at N = 10,000 on the paper's 275 images, as many as fit.

A phase that runs out of time is interrupted like Ctrl-C: finished images stay stored, a training
records the epochs it reached, and the next phase starts. The same command run again resumes
everything from the work folder (``--work``).

``--dry-run`` runs every phase with tiny sizes on the CPU (the test suite does, so the script
cannot rot).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAPER_KS = tuple(range(5, 101, 5))
# the k sweep is certified in this order, so that a cut-short sweep still spans the k range
SWEEP_ORDER = (10, 20, 30, 60, 100, 5, 15, 25, 35, 40, 50, 55, 65, 70, 75, 80, 85, 90, 95)
# each phase's share of the budget (phase p: the paper recipe's certification, after its
# training, which runs beside phases a to c); what a phase leaves unused passes to the next
SHARES = {"a": 0.30, "b": 0.08, "c": 0.30, "p": 0.10, "d": 0.22}


def pack_seconds(budget: float) -> float:
    """What is kept back for the reports and the packing at the end."""
    return min(60.0, 10.0 + 0.08 * budget)


PART_BYTES = 15 * 2**20  # OUT's files stay below 16 MiB each
GRACE_SECONDS = 45.0  # an interrupted command gets this long to store what it finished
REPORT_SECONDS = 90.0  # at most this long for each report


@dataclass(frozen=True)
class Sizes:
    """What the phases run: the full protocol, or tiny sizes for the dry run."""

    device: str
    train: tuple[str, ...]  # extra flags of every training
    paper_epochs: tuple[str, ...]
    certify: tuple[str, ...]
    attack: tuple[str, ...]
    ks: tuple[int, ...]
    forward_batch: int
    attack_jobs: int
    first_pass: int  # test images of the k sweep's first pass


FULL = Sizes(device="cuda", train=(), paper_epochs=(),
             certify=("--profile", "paper", "--rng", "device"),
             attack=("--profile", "paper", "--n", "10000", "--restarts", "10",
                     "--mask-policy", "fresh"),
             ks=PAPER_KS, forward_batch=32768, attack_jobs=8, first_pass=1000)
DRY = Sizes(device="cpu", train=("--train-limit", "256", "--epochs", "1"),
            paper_epochs=("--epochs", "2"),
            certify=("--profile", "paper", "--limit", "4", "--n0", "16", "--n", "64",
                     "--rng", "device"),
            attack=("--profile", "paper", "--limit", "1", "--n", "64", "--restarts", "1",
                    "--mask-policy", "fresh"),
            ks=(20, 30, 45), forward_batch=256, attack_jobs=1, first_pass=2)


class Budget:
    """Wall-clock shares of the budget among the phases that run: each phase ends at its
    deadline; what one leaves unused passes to the next."""

    def __init__(self, seconds: float, phases: str, shares: dict[str, float]) -> None:
        self.began, self.seconds = time.monotonic(), seconds
        self.deadlines: dict[str, float] = {}
        elapsed = 0.0
        usable = max(0.0, seconds - pack_seconds(seconds))
        total = sum(share for phase, share in shares.items() if phase in phases)
        for phase, share in shares.items():
            if phase in phases:
                elapsed += share * usable / total
            self.deadlines[phase] = self.began + elapsed

    def left(self, phase: str) -> float:
        return self.deadlines[phase] - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.began


class Log:
    """Everything the commands print, with a timestamp per line, into OUT/log.txt and stderr."""

    def __init__(self, path: Path, began: float) -> None:
        self.file = path.open("a", buffering=1)
        self.began = began

    def line(self, text: str) -> None:
        stamp = f"[{time.monotonic() - self.began:7.1f}s] "
        for row in text.rstrip("\n").split("\n"):
            self.file.write(stamp + row + "\n")
            sys.stderr.write(stamp + row + "\n")


def bench(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def run(cmd: Sequence[str], log: Log, seconds: float, env: dict[str, str]) -> int | None:
    """Run a command for at most ``seconds`` (then SIGINT, then SIGKILL after the grace time);
    its output goes to the log. Returns its exit status, or None when it was not started."""
    if seconds < 5:
        log.line(f"skipped (no time left): {' '.join(cmd[2:])}")
        return None
    log.line(f"$ {' '.join(cmd[2:])}   (at most {seconds:.0f} s)")
    began = time.monotonic()
    with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1,
                          start_new_session=True) as proc:
        assert proc.stdout is not None
        with ThreadPoolExecutor(1) as pool:
            reader = pool.submit(_copy_lines, proc.stdout, log)
            try:
                proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                log.line(f"time is up: interrupting {cmd[3]} (finished work stays stored)")
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            reader.result()
    log.line(f"exit {proc.returncode} after {time.monotonic() - began:.1f} s")
    return proc.returncode


def _copy_lines(stream: object, log: Log) -> None:
    for line in stream:  # type: ignore[attr-defined]
        # progress bars are off (no terminal); what remains are the commands' own lines
        log.line(line)


def checkpoint(models: Path, k: int) -> Path:
    return models / "mnist" / f"ablation-k{k}.pt"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Reproduce the MNIST tables on one GPU within a time budget, into OUT.")
    parser.add_argument("out", type=Path, help="output folder (at most 8 files are written)")
    parser.add_argument("--budget", type=float, default=540.0,
                        help="seconds for all phases and the packing (default: 540)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder with the four MNIST .gz files (default: bench's own "
                             "search, BENCH_DATA_ROOT first)")
    parser.add_argument("--work", type=Path, default=None,
                        help="models and results databases (default: OUT/../bench-gpu-work)")
    parser.add_argument("--phases", default="abcpd",
                        help="the phases to run, e.g. ab: the default recipe's k = 45 row "
                             "only (default: abcpd, all)")
    parser.add_argument("--share", action="append", default=[], metavar="PHASE=FRACTION",
                        help="a phase's share of the budget instead of its default ("
                             + ", ".join(f"{p}={v:g}" for p, v in SHARES.items())
                             + "); shares are relative to those of the phases that run")
    parser.add_argument("--models", type=Path, default=None,
                        help="the default recipe's checkpoints (default: WORK/models); phase a "
                             "trains only what is missing there")
    parser.add_argument("--dry-run", action="store_true",
                        help="every phase with tiny sizes on the CPU (a check, not results)")
    args = parser.parse_args(argv)
    phases: str = args.phases
    if not phases or set(phases) - set(SHARES):
        parser.error(f"--phases takes letters of {''.join(SHARES)}, got {phases!r}")
    shares = dict(SHARES)
    for item in args.share:
        phase, _, value = item.partition("=")
        try:
            shares[phase] = float(value)
        except ValueError:
            parser.error(f"--share takes PHASE=FRACTION, got {item!r}")
        if phase not in SHARES or shares[phase] <= 0:
            parser.error(f"--share: a phase of {''.join(SHARES)} and a positive share, "
                         f"got {item!r}")
    sizes = DRY if args.dry_run else FULL
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work: Path = (args.work or out.parent / "bench-gpu-work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    budget = Budget(args.budget, phases, shares)
    log = Log(out / "log.txt", budget.began)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    # the bench processes running at once share the host's cores among themselves
    # (bench/cores.py); OMP_NUM_THREADS, when set, fixes each one's threads instead
    # without a root, bench looks for MNIST itself (BENCH_DATA_ROOT, its cache, a sample)
    data = ("--data-root", str(args.data_root)) if args.data_root else ()
    where = (*data, "--device", sizes.device)
    default_models = (args.models or work / "models").resolve()
    paper_models = work / "models-paper"
    results = {"default": work / "results-default.sqlite",
               "paper": work / "results-paper-recipe.sqlite"}
    log.line(f"budget {args.budget:.0f} s; python {platform.python_version()}; "
             f"work folder {work}; sizes {'dry run' if args.dry_run else 'full'}")
    _environment(log, env)

    def train(flags: tuple[str, ...], phase: str) -> int | None:
        # a training stops after the epoch that ends past its phase's deadline (its checkpoint
        # then says how many epochs it reached)
        left = budget.left(phase)
        cmd = bench("train", *flags, *where, "--time-limit", f"{max(1.0, left - 10):.0f}")
        return run(cmd, log, left + GRACE_SECONDS, env)

    # a. training. The paper's recipe (400 epochs) trains beside phases a to c. The default
    # recipe's k = 45 trains alone, and the rest of the k sweep together as one stacked network
    # (``bench train --defense ablation-k5,ablation-k10,...``), until the end of phase a.
    log.line("== phase a: training")
    background = ThreadPoolExecutor(1)
    paper_training = background.submit(
        train, ("--defense", "ablation-k45", "--recipe", "paper", "--models",
                str(paper_models), *sizes.train, *sizes.paper_epochs), "c") \
        if "p" in phases else None
    sweep = ",".join(f"ablation-k{k}" for k in sizes.ks if k != 45)
    trainings = [("--defense", "ablation-k45", "--models", str(default_models), *sizes.train)]
    if "c" in phases:
        trainings.append(("--defense", sweep, "--models", str(default_models), *sizes.train))
    if "a" in phases:
        with ThreadPoolExecutor(len(trainings)) as pool:
            list(pool.map(lambda flags: train(flags, "a"), trainings))
    else:
        log.line("not asked for")

    # b. Table 1's k = 45 row, all test images (the report adds the pairwise certificate from
    # the same votes)
    fast = ("--forward-batch", str(sizes.forward_batch))

    def certify_k45(phase: str, models: Path, key: str, missing: str) -> None:
        if phase not in phases:
            log.line("not asked for")
        elif checkpoint(models, 45).exists():
            run(bench("certify", "--defense", "ablation-k45", *where, *sizes.certify, *fast,
                      "--models", str(models), "--results", str(results[key])),
                log, budget.left(phase), env)
        else:
            log.line(f"no {checkpoint(models, 45)}: {missing}")

    log.line("== phase b: certify k = 45 (default recipe)")
    certify_k45("b", default_models, "default", "phase a did not finish it")

    # c. the k sweep with the default recipe: every k on the first images, then every k on all
    # of them (a certification resumes: the second pass computes only the images still missing)
    log.line("== phase c: the k sweep")
    sweep_ks = [k for k in SWEEP_ORDER if k in sizes.ks and k != 45]
    for k in [k for k in sizes.ks if k not in SWEEP_ORDER and k != 45]:
        sweep_ks.append(k)
    for first_pass in (True, False) if "c" in phases else ():
        for k in sweep_ks:
            if not checkpoint(default_models, k).exists():
                if first_pass:
                    log.line(f"no {checkpoint(default_models, k)}: not trained in time")
                continue
            limit = ("--limit", str(sizes.first_pass)) if first_pass else ()
            run(bench("certify", "--defense", f"ablation-k{k}", "--models",
                      str(default_models), "--results", str(results["default"]), *where,
                      *sizes.certify, *fast, *limit),
                log, budget.left("c"), env)

    # p. the paper recipe's k = 45 row, once its training has stopped
    if paper_training is not None:
        paper_training.result()
    background.shutdown()
    log.line("== phase p: certify k = 45 (the paper's recipe)")
    certify_k45("p", paper_models, "paper", "its training stopped before one epoch")

    # d. Table 2's k = 45 row: Pointwise x 10, fresh masks, N = 10,000
    log.line("== phase d: Pointwise against ablation-k45 (default recipe)")
    if "d" in phases and checkpoint(default_models, 45).exists():
        run(bench("attack", "--defense", "ablation-k45", "--attack", "pointwise", "--models",
                  str(default_models), "--results", str(results["default"]), *where,
                  *sizes.attack, "--jobs", str(sizes.attack_jobs)),
            log, budget.left("d"), env)

    log.line("== tables and packing")
    _pack(out, work, (default_models, paper_models), results, log, env, data)
    log.line(f"done in {budget.elapsed():.0f} s of {args.budget:.0f}")
    return 0


def _environment(log: Log, env: dict[str, str]) -> None:
    probe = ("import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, "
             "'device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none', "
             "'cpu capability', torch.backends.cpu.get_cpu_capability())")
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, check=False)
    log.line((proc.stdout + proc.stderr).strip())
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             check=False)
        log.line("nvidia-smi: " + smi.stdout.strip())
    log.line(f"host: {platform.platform()}, {os.cpu_count()} CPUs")


def _pack(out: Path, work: Path, model_dirs: tuple[Path, ...], results: dict[str, Path],
          log: Log, env: dict[str, str], data: tuple[str, ...]) -> None:
    """OUT gets: log.txt, tables.md (every report's index), results.tar.gz (the databases and
    the checkpoints' metrics) and report-<key>.tar.gz (the report folders)."""
    packed = work / "results.tar.gz"  # first: the records are what matters most
    summary = work / "checkpoints.txt"
    summary.write_text(_checkpoint_summary(model_dirs, env))
    log.line(summary.read_text())
    with tarfile.open(packed, "w:gz", compresslevel=6) as tar:
        for db in results.values():
            if db.exists():
                _checkpoint_wal(db)
                tar.add(db, arcname=db.name)
        tar.add(summary, arcname=summary.name)
    _split(packed, out)
    tables = []
    for key, db in results.items():
        if not db.exists():
            continue
        folder = work / f"report-{key}"
        run(bench("report", "--results", str(db), "--out", str(folder), *data), log,
            REPORT_SECONDS, env)
        index = folder / "index.md"
        if index.exists():
            tables.append(f"# {key} recipe ({db.name})\n\n{index.read_text()}")
            with tarfile.open(out / f"report-{key}.tar.gz", "w:gz", compresslevel=6) as tar:
                tar.add(folder, arcname=f"report-{key}")
    (out / "tables.md").write_text("\n\n".join(tables) or "no results were stored\n")
    for path in sorted(out.iterdir()):
        log.line(f"{path.name}: {path.stat().st_size / 2**20:.2f} MiB")


def _split(packed: Path, out: Path) -> None:
    """Copy ``packed`` into OUT whole, or in parts below 16 MiB (NAME.00, NAME.01, ...; ``cat
    NAME.* > NAME`` joins them)."""
    data = packed.read_bytes()
    if len(data) <= PART_BYTES:
        (out / packed.name).write_bytes(data)
        return
    for part, start in enumerate(range(0, len(data), PART_BYTES)):
        (out / f"{packed.name}.{part:02d}").write_bytes(data[start : start + PART_BYTES])


def _checkpoint_wal(db: Path) -> None:
    """Fold the write-ahead log into the database file so that one file holds everything."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _checkpoint_summary(model_dirs: tuple[Path, ...], env: dict[str, str]) -> str:
    """One line per checkpoint: recipe, epochs reached, seconds, single-ablation accuracy."""
    code = (
        "import sys, torch\n"
        "from pathlib import Path\n"
        "for folder in sys.argv[1:]:\n"
        "    for p in sorted(Path(folder).glob('*/*.pt')):\n"
        "        if p.name.endswith('.partial.pt'): continue\n"
        "        c = torch.load(p, map_location='cpu', weights_only=True)\n"
        "        m, t = c.get('metrics', {}), c.get('train', {})\n"
        "        print(p, 'model', c.get('model_id'), 'epochs', m.get('epochs'), 'of',"
        " t.get('epochs'), 'complete', m.get('complete', True), 'seconds',"
        " round(m.get('train_seconds', 0), 1), 'device', m.get('device', 'cpu'),"
        " 'single-noise accuracy', m.get('test_sample_accuracy'), 'recipe', t)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *map(str, model_dirs)], env=env,
                          capture_output=True, text=True, check=False)
    return proc.stdout + proc.stderr


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
