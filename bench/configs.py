"""Frozen configuration dataclasses: what a defense is, how it is trained, how it is certified.

Configs are turned into plain dicts (``config_dict``) for checkpoints and the results database, and
hashed (``config_hash``) to key results, so a changed value never mixes with earlier results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from defenses.encodings import Encoding
from defenses.precision import Precision, fast_precision

__all__ = [
    "BF16_EPOCHS",
    "DEFAULT_EPOCHS",
    "DEFAULT_PRECISION",
    "FP32_EPOCHS",
    "AblationConfig",
    "AttackConfig",
    "CertifyConfig",
    "DefenseConfig",
    "LeeConfig",
    "TrainConfig",
    "UndefendedConfig",
    "checkpoint_dict",
    "config_dict",
    "config_hash",
]

CertificateKind = Literal["levine-feizi", "pairwise"]
MaskSharing = Literal["per-sample", "per-batch"]
Optimizer = Literal["sgd", "adam"]
# the arithmetic of training steps: fp32, or bf16 autocast (fp32 weights, optimizer and loss)
TrainPrecision = Literal["fp32", "bf16"]
Init = Literal["kaiming", "pytorch"]
MaskPolicy = Literal["fresh", "fixed"]
StartPoint = Literal["bisection", "salt-and-pepper"]

# Smoothed defenses infer, and train their steps, in bf16 where this machine's CPU runs it natively
# (AVX-512 BF16 or AMX: 2.9x fp32's forwards/s, 1.8x its training images/s); elsewhere bf16 is
# emulated, 7x slower than fp32 for inference and 12x for training on a 2-core AVX2 EPYC, so
# there the default is fp32 (README "Performance"). Every record names the precision it used.
DEFAULT_PRECISION: Literal["fp32", "bf16"] = fast_precision("cpu")
# Training epochs that fit the 20-minute budget on a 2-core CPU in that precision: 64 bf16 epochs
# took 19.7 min on an AVX-512-bf16 CPU, 24 fp32 epochs 16.8 min on the AVX2 EPYC.
BF16_EPOCHS, FP32_EPOCHS = 64, 24
DEFAULT_EPOCHS = BF16_EPOCHS if DEFAULT_PRECISION == "bf16" else FP32_EPOCHS


class _PixelPositions:
    """``d``, the number of pixel positions (H * W) of a config's ``image_shape`` (C, H, W)."""

    image_shape: tuple[int, int, int]

    @property
    def d(self) -> int:
        return self.image_shape[1] * self.image_shape[2]


@dataclass(frozen=True)
class AblationConfig(_PixelPositions):
    """A randomized-ablation defense: keep k of d pixel positions, encode the rest as NULL.

    Attributes:
        name: registry name, e.g. ``ablation-k45``.
        k: retained pixel positions per ablation, 1 <= k <= d.
        encoding: NULL encoding of the base classifier's input.
        fill: the value of an ablated pixel under MEAN_FILL (ignored for MULTICHANNEL).
        architecture: base-classifier architecture name (``defenses.models.ARCHITECTURES``).
        image_shape: (C, H, W) of the dataset's images; d = H * W.
        num_classes: number of classes.
        precision: the base classifier's arithmetic at inference (training has its own,
            ``TrainConfig.precision``): ``DEFAULT_PRECISION``, bf16 where the CPU has native
            bf16 (2.9x fp32's throughput there), else fp32 (README "Performance").
    """

    name: str
    k: int
    encoding: Encoding = Encoding.MULTICHANNEL
    fill: float = 0.0
    architecture: str = "mnist-cnn"
    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    precision: Precision = DEFAULT_PRECISION
    kind: Literal["ablation"] = "ablation"

    @property
    def input_channels(self) -> int:
        """Channels of the base classifier's input (the encoding may add some)."""
        return self.encoding.channels(self.image_shape[0])


@dataclass(frozen=True)
class UndefendedConfig(_PixelPositions):
    """The plain classifier on the unmodified image: never abstains, certified radius 0.

    Attributes:
        name: registry name, ``cnn``.
        architecture: architecture name (``defenses.models.ARCHITECTURES``).
        image_shape: (C, H, W) of the dataset's images.
        num_classes: number of classes.
        precision: inference arithmetic; fp32 by default (an attack queries it one image at a
            time, where bf16 gains nothing).
    """

    name: str
    architecture: str = "mnist-cnn"
    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    precision: Precision = "fp32"
    kind: Literal["undefended"] = "undefended"

    @property
    def input_channels(self) -> int:
        return self.image_shape[0]


@dataclass(frozen=True)
class LeeConfig(_PixelPositions):
    """Lee et al. (2019) random-value smoothing: each pixel value kept with probability kappa,
    otherwise replaced by a uniformly random *different* one of ``num_values`` levels.

    Attributes:
        name: registry name, e.g. ``lee-kappa0.1``.
        kappa: keep probability, 1/num_values < kappa <= 1.
        num_values: levels per coordinate (256: MNIST's 8-bit grey levels, not binarised).
        architecture: base-classifier architecture name (``defenses.models.ARCHITECTURES``).
        image_shape: (C, H, W) of the dataset's images.
        num_classes: number of classes.
        precision: the base classifier's arithmetic at inference (``DEFAULT_PRECISION``).
    """

    name: str
    kappa: float
    num_values: int = 256
    architecture: str = "mnist-cnn"
    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    precision: Precision = DEFAULT_PRECISION
    kind: Literal["lee"] = "lee"

    @property
    def input_channels(self) -> int:
        return self.image_shape[0]


DefenseConfig = AblationConfig | UndefendedConfig | LeeConfig


@dataclass(frozen=True)
class TrainConfig:
    """How the base classifier is trained on ablated images (Adam, warmup then cosine decay).

    The paper trains 400 epochs (SGD, lr 0.01 then 0.001, batch 128, one mask shared by the whole
    minibatch, PyTorch's default initialisation). 400 epochs do not fit a 2-core CPU; the default
    here is chosen to fit 20 minutes: an independent mask per training image, Kaiming (He)
    initialisation (PyTorch's default leaves this net nearly constant for its first epoch), Adam
    with one warmup epoch and cosine decay to zero, and bf16 autocast steps where the CPU has
    native bf16, which run 64 epochs in the time fp32 runs about 35 (README, "Training"); on a CPU
    without, fp32 steps for 24 epochs (``DEFAULT_PRECISION``, ``DEFAULT_EPOCHS``).

    Attributes:
        optimizer: "sgd" (momentum, optionally Nesterov) or "adam" (lr is Adam's step size).
        init: "kaiming" (He normal for conv/linear weights, zero biases) or "pytorch" (default).
        mask_sharing: "per-sample" (one mask per image) or "per-batch" (the paper's code).
        copies: ablations of each image per step (an epoch then costs ``copies`` times more);
            ``batch_size`` counts images, so a step sees ``batch_size * copies`` ablations.
        consistency: weight of the consistency (KL) term of ``bench.losses.smoothing_loss``.
        entropy: weight of its entropy term.
        ema: decay of an exponential moving average of the weights, updated after every step
            (``bench.training.ema_decay``); the saved classifier is the average. 0: off, the
            saved classifier is the last step's weights.
        precision: arithmetic of the training steps: "fp32", or "bf16" (``torch.autocast``:
            convolutions and matmuls in bf16, weights, optimizer state and loss in fp32), about
            1.8x fp32's images/s on a CPU with native bf16 and 12x slower on one without.
    """

    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 128
    optimizer: Optimizer = "adam"
    lr: float = 2e-3
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    warmup_epochs: int = 1
    init: Init = "kaiming"
    mask_sharing: MaskSharing = "per-sample"
    copies: int = 1
    consistency: float = 0.0
    entropy: float = 0.0
    ema: float = 0.0
    precision: TrainPrecision = DEFAULT_PRECISION
    seed: int = 0


@dataclass(frozen=True)
class CertifyConfig:
    """CERTIFY / PREDICT parameters (paper defaults: N0 = 1,000, N = 10,000, alpha = 0.05).

    Attributes:
        n0: selection samples (choose the top class).
        n: estimation samples (lower-bound its probability; PREDICT's votes).
        alpha: failure probability; one-sided for CERTIFY's bound, two-sided for PREDICT's test.
        abstain: Cohen-style CERTIFY that abstains when p_lower <= 1/2; the paper's CERTIFY
            (False, default) never abstains and returns radius 0 there.
        certificate: which certificate an ablation defense uses: "levine-feizi" (the paper's,
            default) or "pairwise" (Jia et al. style, ALGORITHMS.md §4). Lee defenses always use
            Lee's certificate and undefended ones none; each record names the one used.
        batch_size: base-classifier forward batch; changes speed, never results (logits are
            bitwise independent of the batch, ``defenses.precision``).
    """

    n0: int = 1000
    n: int = 10000
    alpha: float = 0.05
    abstain: bool = False
    certificate: CertificateKind = "levine-feizi"
    batch_size: int = 1024


@dataclass(frozen=True)
class AttackConfig:
    """An empirical attack run: Foolbox 3's Pointwise attack (ALGORITHMS.md §5.3).

    Attributes:
        attack: registry name (``pointwise``).
        restarts: independent runs per image; the smallest L0 is kept.
        start_point: how Pointwise's starting point is found: "salt-and-pepper" (default;
            foolbox's ``SaltAndPepperNoiseAttack`` search, at most one query per step: a step
            whose candidate is not closer than the best start is not queried,
            ``attacks.start.salt_and_pepper_start``) or "bisection" (a
            bisection over the salt-and-pepper noise level, then a random search below it,
            ``attacks.start``: about 40 queries). On the undefended CNN (40 images, 10
            restarts) 100 salt-and-pepper steps gave the median L0 of foolbox's 1,000 (9) and
            the bisection a median of 10 (README "Performance").
        start_draws: random draws of the bisection start (the first is bisected, each later
            one is a single query below the best level so far).
        init_steps: steps of the salt-and-pepper start (``SaltAndPepperNoiseAttack(steps)``);
            foolbox's own default is 1,000, the reference protocol uses 100.
        start_n: fixed masks only: the start search queries the smoothed classifier on the
            first ``start_n`` of the restart's n masks, and a point it finds is the start only
            once all n call it adversarial (``attacks.pointwise``); at least n: every start
            query uses all n. Pointwise's own queries always use all n.
        l2_binary_search: Pointwise's per-pixel binary search after the reset phase.
        n: samples per query for smoothed defenses (the paper: 10,000 fresh ablations).
        alpha: PREDICT's two-sided level; a query whose top-two test does not reject counts as
            an abstention, i.e. a successful attack.
        mask_policy: ``fresh`` draws new ablations on every query (the paper's protocol);
            ``fixed`` draws one set of n per image and restart and reuses it (deterministic).
        start_tries: salt-and-pepper starts tried per restart before giving up (a stochastic
            defense can reject a start that looked adversarial once).
    """

    attack: str = "pointwise"
    restarts: int = 10
    start_point: StartPoint = "salt-and-pepper"
    start_draws: int = 30
    init_steps: int = 100
    start_n: int = 1000
    l2_binary_search: bool = True
    n: int = 10000
    alpha: float = 0.05
    mask_policy: MaskPolicy = "fresh"
    start_tries: int = 3

    def __post_init__(self) -> None:
        if self.start_n < 1:
            raise ValueError(f"start_n must be >= 1, got {self.start_n}")

    @property
    def start_samples(self) -> int:
        """Masks per start-search query when the start search uses fewer than n (fixed masks,
        start_n < n), else 0."""
        return self.start_n if self.mask_policy == "fixed" and self.start_n < self.n else 0


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def config_dict(config: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass config as a JSON-ready dict (Enums as values, tuples as lists)."""
    return {
        f.name: _plain(getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.name not in exclude
    }


# inference-only fields: a checkpoint is the same trained model whatever they say
_INFERENCE_ONLY = ("precision",)


def checkpoint_dict(config: Any) -> dict[str, Any]:
    """The part of a defense config a checkpoint is trained for (no inference-only fields)."""
    return config_dict(config, exclude=_INFERENCE_ONLY)


def config_hash(*parts: Any) -> str:
    """A short stable hash (16 hex digits) of JSON-ready parts."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
