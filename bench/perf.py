"""``bench perf``: what this machine does with a smoothed defense, measured in one run.

Measures the matmul peak (fp32, bf16), base-classifier forwards per second in each precision
(with each precision's vote agreement with fp32) and, in the defense's own precision, per
forward batch, CERTIFY's seconds per image, and Pointwise with
restarts under the fixed-mask policy: the forward passes a naive evaluation would need (every
query from scratch), the forward passes the incremental, early-stopping oracle needed, whether
its decisions equal a full evaluation of the same masks (audited on every ``audit_every``-th
query), and seconds per attacked image. Library code: returns plain dicts, never prints.
"""

from __future__ import annotations

import dataclasses
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from attacks.pointwise import Pointwise, PointwiseConfig
from bench.attacking import attack_one
from bench.data import Dataset
from bench.seeding import image_generator
from bench.train_images import to_float
from defenses.decisions import attack_succeeds
from defenses.oracles import FixedOracle, Oracle
from defenses.precision import PRECISIONS, InferenceModel, native_bf16
from defenses.smoothing import SmoothedClassifier
from reports.tabular import Table

__all__ = ["FULL", "MATMUL_DTYPES", "QUICK", "AuditedOracle", "PerfConfig", "attack_perf",
           "batch_perf", "certify_perf", "forward_perf", "machine", "matmul_gflops", "perf_table",
           "throughput_inputs"]


@dataclass(frozen=True)
class PerfConfig:
    """How much ``bench perf`` measures.

    Attributes:
        matmul_size: square matmul size for the GFLOP/s figures.
        rounds: timed repetitions of each throughput figure (the median is reported).
        forwards: base-classifier inputs per throughput round.
        certify_images: test images certified (N0 = 1,000, N = ``n``) for seconds per image.
        attack_images: test images attacked (the first ones the defense gets right).
        restarts: Pointwise restarts per attacked image.
        n: the defense's N: ablations per attack query and CERTIFY's estimation samples.
        audit_every: every this many queries, the attack's decision is compared with a full
            evaluation of the same masks (not counted in the attack's forwards or seconds).
    """

    matmul_size: int = 2048
    rounds: int = 5
    forwards: int = 10000
    certify_images: int = 10
    attack_images: int = 2
    restarts: int = 10
    n: int = 10000
    audit_every: int = 25


# the matmuls measured: fp32 and bf16
MATMUL_DTYPES = (("fp32", torch.float32), ("bf16", torch.bfloat16))
# inputs of the emulated-bf16 throughput figure (one round; the others take ``forwards``)
EMULATED_BF16_FORWARDS = 1024
FULL = PerfConfig()
QUICK = PerfConfig(matmul_size=1024, rounds=3, forwards=4096, certify_images=2, attack_images=1,
                   restarts=1, n=10000, audit_every=50)


def _median_seconds(work: Callable[[], object], rounds: int) -> float:
    work()  # warm-up: oneDNN builds its kernels on the first call
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def matmul_gflops(size: int, dtype: torch.dtype, rounds: int) -> float:
    """GFLOP/s of a (size x size) @ (size x size) matmul in ``dtype``, median of ``rounds``.
    Emulated bf16 (a CPU without native bf16) is measured at size 512 at most: at about 1
    GFLOP/s a 2,048 matmul takes 13 s."""
    if dtype == torch.bfloat16 and not native_bf16("cpu"):
        size = min(size, 512)
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(size, size, generator=gen).to(dtype)
    b = torch.rand(size, size, generator=gen).to(dtype)
    seconds = _median_seconds(lambda: torch.mm(a, b), rounds)
    return 2 * size**3 / seconds / 1e9


def throughput_inputs(defense: SmoothedClassifier, test: Dataset,
                      config: PerfConfig) -> torch.Tensor:
    """``config.forwards`` base-classifier inputs: noised copies of the first 8 test images."""
    per_image = -(-config.forwards // 8)
    images = to_float(test.images[:8])
    return defense.noised_copies(images, per_image,
                                 torch.Generator().manual_seed(1))[: config.forwards]


def _throughput(infer: InferenceModel, inputs: torch.Tensor, batch: int,
                rounds: int) -> tuple[float, torch.Tensor]:
    def run() -> torch.Tensor:
        return torch.cat([infer(inputs[s : s + batch]).argmax(1)
                          for s in range(0, len(inputs), batch)])

    seconds = _median_seconds(run, rounds)
    return len(inputs) / seconds, run()


def forward_perf(defense: SmoothedClassifier, inputs: torch.Tensor, calibration: torch.Tensor,
                 config: PerfConfig, batch: int) -> dict[str, dict[str, float]]:
    """Forwards/s of the defense's base classifier in every precision at forward batch
    ``batch`` on ``inputs`` (``throughput_inputs``), and each precision's vote agreement with
    fp32 on them; int8 is calibrated as the defense would be on ``calibration`` (training
    images)."""
    calib_inputs = defense.calibration_inputs(calibration)
    out: dict[str, dict[str, float]] = {}
    reference: torch.Tensor | None = None
    for precision in PRECISIONS:
        infer = InferenceModel(defense.model, precision, device=defense.device,
                               calibration=calib_inputs if precision == "int8" else None)
        emulated = precision == "bf16" and not native_bf16(defense.device)
        # emulated bf16 runs about 900 forwards/s: one round on fewer inputs tells as much
        rows = min(len(inputs), EMULATED_BF16_FORWARDS) if emulated else len(inputs)
        rate, votes = _throughput(infer, inputs[:rows], batch, 1 if emulated else config.rounds)
        if reference is None:
            reference = votes
        agreement = float((votes == reference[:rows]).float().mean())
        out[precision] = {"forwards_per_s": rate, "vote_agreement_with_fp32": agreement}
        if emulated:
            out[precision]["emulated"] = True
    return out


def batch_perf(defense: SmoothedClassifier, inputs: torch.Tensor, config: PerfConfig,
               batches: tuple[int, ...] = (256, 512, 1024, 2048)) -> dict[str, float]:
    """Forwards/s of the defense's own base classifier (its precision) on ``inputs`` per forward
    batch."""
    return {str(b): _throughput(defense.infer, inputs, b, config.rounds)[0] for b in batches}


def certify_perf(defense: SmoothedClassifier, test: Dataset, images: int,
                 seed: int = 0) -> float:
    """Seconds per image of CERTIFY with the defense's N0 and N on the first ``images``."""
    began = time.perf_counter()
    for i in range(images):
        defense.certify(to_float(test.images[i : i + 1]), [image_generator(seed, i, "certify")])
    return (time.perf_counter() - began) / images


class AuditedOracle:
    """A fixed-mask oracle that counts its own forward passes and, on every ``every``-th query,
    compares its decision with a full evaluation of the same masks (timed and counted apart).
    Its start stand-in, if any, is audited the same way (``start``)."""

    abstains = True

    def __init__(self, inner: FixedOracle, label: int, alpha: float, every: int) -> None:
        self.inner, self.label, self.alpha, self.every = inner, label, alpha, every
        self.forwards = self.audited = self.mismatches = self.audit_forwards = self.queries = 0
        self.audit_seconds = 0.0
        self.start = (None if not isinstance(inner.start, FixedOracle)
                      else AuditedOracle(inner.start, label, alpha, every))

    def audited_oracles(self) -> list[AuditedOracle]:
        """This oracle and its audited start stand-in, if any."""
        return [self] + ([] if self.start is None else self.start.audited_oracles())

    @property
    def naive_forwards(self) -> int:
        """What its queries cost evaluated from scratch: every mask of every query."""
        return self.queries * len(self.inner.noise)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        defense = self.inner.defense
        before = defense.forward_passes
        counts = self.inner(x)
        self.queries = self.inner.queries
        self.forwards += defense.forward_passes - before
        if self.inner.queries % self.every == 0:
            began, before = time.perf_counter(), defense.forward_passes
            for i in range(x.shape[0]):
                full = torch.bincount(defense.noise_votes(x[i : i + 1], self.inner.noise),
                                      minlength=defense.num_classes).tolist()
                got = [round(v) for v in counts[i].tolist()]
                self.mismatches += (attack_succeeds(full, self.label, self.alpha)
                                    != attack_succeeds(got, self.label, self.alpha))
                self.audited += 1
            self.audit_forwards += defense.forward_passes - before
            self.audit_seconds += time.perf_counter() - began
        return counts


def _attack_image(defense: SmoothedClassifier, test: Dataset, image: int, config: PerfConfig,
                  attack: PointwiseConfig, seed: int,
                  on_restart: Callable[[Any], None] | None) -> dict[str, Any] | None:
    """One attacked image's figures, or None when the defense gets it wrong already."""
    x, label = to_float(test.images[image : image + 1]), int(test.labels[image])
    audits: list[AuditedOracle] = []

    def wrap(oracle: Oracle) -> Oracle:
        if not isinstance(oracle, FixedOracle):
            raise TypeError(f"perf audits fixed-mask oracles, got {type(oracle).__name__}")
        audited = AuditedOracle(oracle, label, defense.alpha, config.audit_every)
        audits.extend(audited.audited_oracles())
        return audited

    before, began = defense.forward_passes, time.perf_counter()
    _, result = attack_one(defense, Pointwise(attack), "fixed", seed, image, x, label, on_restart,
                           wrap_oracle=wrap)
    seconds = time.perf_counter() - began
    if result is None:
        return None
    total = defense.forward_passes - before - sum(a.audit_forwards for a in audits)
    oracle_forwards = sum(a.forwards for a in audits)
    return {
        "image": image, "best_l0": result.best_l0, "queries": result.queries,
        "forwards_incremental": total,
        "forwards_naive": total - oracle_forwards + sum(a.naive_forwards for a in audits),
        "seconds": seconds - sum(a.audit_seconds for a in audits),
        "audited_queries": sum(a.audited for a in audits),
        "mismatches": sum(a.mismatches for a in audits),
    }


def attack_perf(defense: SmoothedClassifier, test: Dataset, config: PerfConfig,
                attack: PointwiseConfig, seed: int = 0,
                on_restart: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Pointwise with ``config.restarts`` restarts, fixed masks, at the defense's N, on the
    first ``config.attack_images`` test images the defense classifies correctly (PREDICT).

    Naive forwards count every query from scratch (each mask of the oracle asked: N, or the
    start stand-in's ``start_n``) plus the clean check and re-checks; incremental ones are those
    the early-stopping incremental oracles really ran.
    """
    attack = dataclasses.replace(attack, restarts=config.restarts)
    start_samples = attack.start_n if attack.start_n < defense.n else 0
    per_image: list[dict[str, Any]] = []
    for image in range(len(test)):
        if len(per_image) == config.attack_images:
            break
        row = _attack_image(defense, test, image, config, attack, seed, on_restart)
        if row is not None:
            per_image.append(row)
    if not per_image:
        raise ValueError("the defense gets none of the test images right: nothing to attack")
    naive = statistics.mean(r["forwards_naive"] for r in per_image)
    incremental = statistics.mean(r["forwards_incremental"] for r in per_image)
    seconds = statistics.mean(r["seconds"] for r in per_image)
    return {
        "attack_images": len(per_image), "restarts": config.restarts, "n": defense.n,
        "start_point": attack.start_point, "init_steps": attack.init_steps,
        "start_draws": attack.start_draws, "start_samples": start_samples,
        "l2_binary_search": attack.l2_binary_search,
        "attack_forwards_naive": naive, "attack_forwards_incremental": incremental,
        "forward_reduction": naive / incremental,
        "decisions_identical": all(r["mismatches"] == 0 for r in per_image),
        "audited_queries": sum(r["audited_queries"] for r in per_image),
        "attack_s_per_image": seconds,
        # the paper's protocol: 275 images, 10 restarts each (scaled when fewer were run)
        "projected_paper_protocol_h": 275 * seconds * 10 / config.restarts / 3600,
        "per_image": per_image,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": _cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": native_bf16("cpu"), "cuda": torch.cuda.get_device_name(0)
            if torch.cuda.is_available() else None, "python": platform.python_version()}


def _search_size(attack: dict[str, Any]) -> str:
    """The start search's size for the table, e.g. " (100 steps)" or " (30 draws)"; "" for a
    perf.json from before the fields existed."""
    if attack["start_point"] == "salt-and-pepper" and "init_steps" in attack:
        return f" ({attack['init_steps']} steps)"
    if attack["start_point"] == "bisection" and "start_draws" in attack:
        return f" ({attack['start_draws']} draws)"
    return ""


def perf_table(result: dict[str, Any]) -> Table:
    """The figures of one ``bench perf`` run as a two-column table (metric, value)."""
    emulated = result.get("machine", {}).get("native_bf16") is False
    rows: list[tuple[str, str]] = [
        ("matmul_gflops fp32", f"{result['matmul_gflops']['fp32']:.0f}"),
        ("matmul_gflops bf16" + (" (emulated: no native bf16)" if emulated else ""),
         f"{result['matmul_gflops']['bf16']:.1f}"),
    ]
    for precision, row in result["forwards"].items():
        rows.append((f"forwards_per_s {precision}" + (" (emulated)" if row.get("emulated") else ""),
                     f"{row['forwards_per_s']:,.0f} (votes agree with fp32: "
                     f"{100 * row['vote_agreement_with_fp32']:.2f}%)"))
    for batch, rate in result["batches"].items():
        rows.append((f"forwards_per_s {result['precision']}, batch {batch}", f"{rate:,.0f}"))
    attack = result["attack"]
    rows += [
        (f"certify_s_per_image ({result['precision']})", f"{result['certify_s_per_image']:.3f}"),
        ("attack_forwards_naive", f"{attack['attack_forwards_naive']:.3g}"),
        ("attack_forwards_incremental", f"{attack['attack_forwards_incremental']:.3g}"),
        ("forward reduction", f"{attack['forward_reduction']:.1f}x"),
        ("decisions_identical", f"{attack['decisions_identical']} "
                                f"({attack['audited_queries']} queries audited)"),
        ("attack start point", attack["start_point"] + _search_size(attack) + (
            f", searched on {attack['start_samples']} of the {attack['n']} masks"
            if attack["start_samples"] else "")),
        ("attack L2 phase", "on" if attack["l2_binary_search"] else "off"),
        (f"attack_s_per_image ({attack['restarts']} restarts, N = {attack['n']})",
         f"{attack['attack_s_per_image']:.0f}"),
        ("projected 275 images x 10 restarts (fixed masks)",
         f"{attack['projected_paper_protocol_h']:.1f} h"),
    ]
    return Table(("metric", "value"), tuple(rows), "lr")
