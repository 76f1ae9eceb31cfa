"""Frozen configuration dataclasses and named presets: what a defense is, how it is trained, how
it is certified, and the two settings profiles every command shares.

Defaults are constants: nothing here depends on the machine. What does (the inference precision
"auto", the default training recipe) is resolved once at the API/CLI edge
(``bench.hardware``) and recorded with every result. Field metadata says what enters a run's
identity (``bench.identity``): ``identity=False`` marks a field that changes speed only,
``trained=False`` one that does not change which trained model a checkpoint holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from defenses.ablation import AblationNoise, RandomizedAblation
from defenses.base import L0_PIXELS, L2, NoiseModel
from defenses.encodings import Encoding, Fill
from defenses.gaussian import GaussianNoise, GaussianSmoothing
from defenses.gaussian_math import check_sigma
from defenses.lee import LeeNoise, LeeSmoothing
from defenses.oracles import MaskPolicy
from defenses.partition import (
    LAYOUTS,
    GroupSubmodels,
    Layout,
    PartitionVote,
    SharedBase,
    group_masks,
    partition,
)
from defenses.precision import Precision
from defenses.undefended import Undefended

if TYPE_CHECKING:
    import torch
    from torch import nn

    from defenses.base import Defense

ArchitectureBuilder = Callable[[str, int, int, tuple[int, int, int]], "nn.Module"]
"""``build(architecture, in_channels, num_classes, image_shape)``: a registered architecture's
untrained network (``bench.registry.build_architecture``)."""

__all__ = [
    "ADDED",
    "NAMED_RECIPES",
    "PAPER_RECIPE",
    "PAPER_RECIPES",
    "PROFILES",
    "RECIPES",
    "SPEED_ONLY",
    "UNTRAINED",
    "AblationConfig",
    "ArchitectureBuilder",
    "CertifyConfig",
    "DefenseConfig",
    "DerandomizedConfig",
    "GaussianConfig",
    "LeeConfig",
    "PartitionConfig",
    "Profile",
    "TrainConfig",
    "UndefendedConfig",
]

SPEED_ONLY = {"identity": False}
"""Field metadata: the field changes speed, never a result; it is left out of run identities."""
UNTRAINED = {"trained": False}
"""Field metadata: the field does not change which trained model a checkpoint holds."""
ADDED = {"omit_default": True}
"""Field metadata: a field added after identity schema 2; it enters an identity only when it
differs from its default, so runs and checkpoints made before it keep their identity."""

MaskSharing = Literal["per-sample", "per-batch"]
Optimizer = Literal["sgd", "adam"]
# the arithmetic of training steps: fp32, or bf16 autocast (fp32 weights, optimizer and loss)
TrainPrecision = Literal["fp32", "bf16"]
Init = Literal["kaiming", "pytorch"]
Schedule = Literal["warmup-cosine", "constant", "step"]
# data augmentation of training images (``bench.train_images.augment``)
Augment = Literal["none", "flip", "crop-flip"]
# where noise is drawn: the CPU's generator (the same draws on every machine) or the device's
NoiseRng = Literal["cpu", "device"]


@dataclass(frozen=True)
class CertifyConfig:
    """CERTIFY / PREDICT parameters (paper defaults: N0 = 1,000, N = 10,000, alpha = 0.05).

    N and alpha have this one home: certification, PREDICT and attacks on the defense all use
    them.

    Attributes:
        n0: selection samples (choose the top class).
        n: estimation samples (lower-bound its probability), PREDICT's votes, an attack query's.
        alpha: failure probability; one-sided for CERTIFY's bound, two-sided for PREDICT's test.
        abstain: Cohen-style CERTIFY that abstains when p_lower <= 1/2; the paper's CERTIFY
            (False, default) never abstains and returns radius 0 there.
        certificate: which of the defense's certificates gives the radius (None: its first, for
            ablation the paper's "levine-feizi"; "pairwise" is Jia et al.'s style). Each record
            names the one used.
        batch_size: base-classifier forward batch; changes speed, never results on the CPU
            (logits are bitwise independent of the batch there, ``defenses.precision``).
        rng: where each image's noise is drawn: "cpu" (a CPU generator per image: the same
            draws on every machine and device) or "device" (a generator of the defense's
            device per image, e.g. CUDA's: no noise crosses from the host, the draws differ
            from the CPU's). Either is an exact sample of the noise model; the run's identity
            names "device".
    """

    n0: int = 1000
    n: int = 10000
    alpha: float = 0.05
    abstain: bool = False
    certificate: str | None = None
    batch_size: int = field(default=1024, metadata=SPEED_ONLY)
    rng: NoiseRng = field(default="cpu", metadata=ADDED)

    def __post_init__(self) -> None:
        if self.n0 < 1 or self.n < 1:
            raise ValueError(f"n0 and n must be >= 1, got n0={self.n0}, n={self.n}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.rng not in ("cpu", "device"):
            raise ValueError(f"rng must be 'cpu' or 'device', got {self.rng!r}")


@dataclass(frozen=True, kw_only=True)
class DefenseConfig:
    """What every defense config holds; a defense family subclasses it.

    Attributes:
        name: registry name, e.g. ``ablation-k45``.
        dataset: the dataset it is for (``bench.registry``); part of its identity.
        architecture: base-classifier architecture name (``bench.registry``).
        image_shape: (C, H, W) of the dataset's images; d = H * W pixel positions.
        num_classes: number of classes.
        precision: the base classifier's arithmetic at inference, "fp32", "bf16" or "int8"
            (training has its own, ``TrainConfig.precision``). Resolved from "auto" at the
            API/CLI edge (``bench.hardware.resolve_precision``).
        kind: the family's kind, set by each subclass.

    A subclass gives its noise model (``noise_model``; None: the classifier sees plain images),
    the certificates it offers (``certificates``, the first is the default; ``exact`` when they
    are computed rather than estimated) and how its defense is built around a base classifier
    (``build``). It may build its own base classifier (``base_classifier``) or reuse another
    defense's trained one (``trained_as``).
    """

    name: str
    dataset: str = "mnist"
    architecture: str = "mnist-cnn"
    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    precision: Precision = field(default="fp32", metadata=UNTRAINED)
    kind: str = ""

    certificates: ClassVar[tuple[str, ...]] = ("none",)
    exact: ClassVar[bool] = False
    """Whether its certificate is exact (computed, not estimated from samples): N0, N and alpha
    then mean nothing to it and stay out of its runs' identities."""
    threat_model: ClassVar[str] = L0_PIXELS
    """What its certified radius counts (``defenses.base.THREAT_MODELS``)."""

    @property
    def d(self) -> int:
        """The number of pixel positions, H * W."""
        return self.image_shape[1] * self.image_shape[2]

    def noise_model(self) -> NoiseModel | None:
        """The noise the base classifier is trained and queried under (None: plain images)."""
        return None

    @property
    def input_channels(self) -> int:
        """Channels of the base classifier's input (an encoding may add some)."""
        noise = self.noise_model()
        channels = self.image_shape[0]
        return channels if noise is None else noise.input_channels(channels)

    def base_classifier(self, build: ArchitectureBuilder) -> nn.Module:
        """The untrained base classifier: the registered ``architecture`` (``build``) for the
        input channels of the noise model and the dataset's classes and image shape."""
        return build(self.architecture, self.input_channels, self.num_classes, self.image_shape)

    def trained_as(self) -> DefenseConfig:
        """The config whose checkpoint holds this defense's base classifier: itself, unless the
        defense reuses another defense's trained classifier (``DerandomizedConfig``)."""
        return self

    def build(self, model: nn.Module, certify: CertifyConfig, *,
              device: torch.device | str = "cpu",
              calibration: torch.Tensor | None = None) -> Defense:
        """The defense around base classifier ``model``: N0, N, alpha and the certificate from
        ``certify``, in ``precision`` (``calibration``: training images, int8 only)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to build its defense")


@dataclass(frozen=True, kw_only=True)
class UndefendedConfig(DefenseConfig):
    """The plain classifier on the unmodified image: never abstains, certified radius 0. Its
    precision is fp32 by default everywhere (an attack queries it one image at a time, where bf16
    gains nothing)."""

    kind: str = "undefended"

    def build(self, model: nn.Module, certify: CertifyConfig, *,
              device: torch.device | str = "cpu",
              calibration: torch.Tensor | None = None) -> Defense:
        return Undefended(model, num_classes=self.num_classes, precision=self.precision,
                          calibration=calibration, device=device, name=self.name)


@dataclass(frozen=True, kw_only=True)
class AblationConfig(DefenseConfig):
    """A randomized-ablation defense: keep k of d pixel positions, encode the rest as NULL.

    Attributes:
        k: retained pixel positions per ablation, 1 <= k <= d.
        encoding: NULL encoding of the base classifier's input.
        fill: the value of an ablated pixel under MEAN_FILL (ignored for MULTICHANNEL): one
            number, or one per channel.
    """

    k: int
    encoding: Encoding = Encoding.MULTICHANNEL
    fill: Fill = 0.0
    kind: str = "ablation"

    certificates: ClassVar[tuple[str, ...]] = ("levine-feizi", "pairwise")

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.d:
            raise ValueError(f"k = {self.k} is impossible: k must be in 1..{self.d} (the number "
                             "of pixel positions)")

    def noise_model(self) -> NoiseModel:
        return AblationNoise(self.k, self.encoding, self.fill)

    def build(self, model: nn.Module, certify: CertifyConfig, *,
              device: torch.device | str = "cpu",
              calibration: torch.Tensor | None = None) -> Defense:
        return RandomizedAblation(
            model, self.k, encoding=self.encoding, fill=self.fill,
            certificate=certify.certificate or self.certificates[0],  # type: ignore[arg-type]
            n0=certify.n0, n=certify.n, alpha=certify.alpha, abstain=certify.abstain,
            num_classes=self.num_classes, batch_size=certify.batch_size,
            precision=self.precision, calibration=calibration, device=device, name=self.name)


@dataclass(frozen=True, kw_only=True)
class LeeConfig(DefenseConfig):
    """Lee et al. (2019) random-value smoothing: each pixel value kept with probability kappa,
    otherwise replaced by a uniformly random *different* one of ``num_values`` levels.

    Attributes:
        kappa: keep probability, 1/num_values < kappa <= 1.
        num_values: levels per coordinate (256: MNIST's 8-bit grey levels, not binarised).
    """

    kappa: float
    num_values: int = 256
    kind: str = "lee"

    certificates: ClassVar[tuple[str, ...]] = ("lee",)

    def noise_model(self) -> NoiseModel:
        return LeeNoise(self.kappa, self.num_values)

    def build(self, model: nn.Module, certify: CertifyConfig, *,
              device: torch.device | str = "cpu",
              calibration: torch.Tensor | None = None) -> Defense:
        return LeeSmoothing(
            model, self.kappa, num_values=self.num_values, n0=certify.n0, n=certify.n,
            alpha=certify.alpha, abstain=certify.abstain, num_classes=self.num_classes,
            batch_size=certify.batch_size, precision=self.precision, calibration=calibration,
            device=device, name=self.name)


@dataclass(frozen=True, kw_only=True)
class GaussianConfig(DefenseConfig):
    """Cohen et al. (2019) Gaussian smoothing: isotropic Gaussian noise of standard deviation
    ``sigma`` added to every coordinate, certified in L2 (``defenses.gaussian``).

    Attributes:
        sigma: the noise's standard deviation on [0, 1] pixel values, > 0.
    """

    sigma: float
    kind: str = "gaussian"

    certificates: ClassVar[tuple[str, ...]] = ("cohen-l2",)
    threat_model: ClassVar[str] = L2

    def __post_init__(self) -> None:
        check_sigma(self.sigma)

    def noise_model(self) -> NoiseModel:
        return GaussianNoise(self.sigma)

    def build(self, model: nn.Module, certify: CertifyConfig, *,
              device: torch.device | str = "cpu",
              calibration: torch.Tensor | None = None) -> Defense:
        return GaussianSmoothing(
            model, self.sigma, n0=certify.n0, n=certify.n, alpha=certify.alpha,
            abstain=certify.abstain, num_classes=self.num_classes,
            batch_size=certify.batch_size, precision=self.precision, calibration=calibration,
            device=device, name=self.name)


def _check_groups(groups: int, d: int) -> None:
    if not 1 <= groups <= d:
        raise ValueError(f"{groups} groups is impossible: the number of groups must be in "
                         f"1..{d} (the number of pixel positions)")


@dataclass(frozen=True, kw_only=True)
class PartitionConfig(DefenseConfig):
    """Feature partition aggregation (Hammoudeh & Lowd 2024): the d pixel positions dealt into
    ``groups`` disjoint groups, one submodel per group trained on that group's pixels only, and
    the plurality vote, certified exactly (``defenses.partition``).

    Attributes:
        groups: T, the number of groups and submodels, 1 <= T <= d.
        partition_seed: the seed of the random partition (``defenses.partition.random_partition``;
            the checkpoint holds the partition itself too).
        layout: "random" (a seeded random partition) or "strided" (positions walked column by
            column and dealt round-robin, ``defenses.partition.strided_partition``: the FPA
            paper's MNIST layout).
        architecture: every submodel's registered architecture; it gets (2C, g, 1) inputs, the
            group's g pixel positions in the multichannel encoding.
    """

    groups: int
    partition_seed: int = 0
    architecture: str = "group-mlp"
    kind: str = "partition"
    layout: Layout = field(default="random", metadata=ADDED)

    certificates: ClassVar[tuple[str, ...]] = ("partition",)
    exact: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_groups(self.groups, self.d)
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")

    def base_classifier(self, build: ArchitectureBuilder) -> nn.Module:
        """T submodels of ``architecture``, stacked (``defenses.partition.GroupSubmodels``)."""
        channels = self.image_shape[0]
        width = math.ceil(self.d / self.groups)
        submodels = [build(self.architecture, 2 * channels, self.num_classes,
                           (channels, width, 1)) for _ in range(self.groups)]
        owner = partition(self.image_shape[1:], self.groups, self.layout, self.partition_seed)
        return GroupSubmodels(submodels, owner, self.image_shape)

    def build(self, model: nn.Module, certify: CertifyConfig, *,
              device: torch.device | str = "cpu",
              calibration: torch.Tensor | None = None) -> Defense:
        if not isinstance(model, GroupSubmodels) or model.groups != self.groups:
            raise ValueError(f"its base classifier must be its {self.groups} submodels "
                             "(defenses.partition.GroupSubmodels, as base_classifier builds "
                             f"them), got {type(model).__name__}")
        return PartitionVote(model, num_classes=self.num_classes,
                             batch_size=certify.batch_size, precision=self.precision,
                             device=device, name=self.name)


@dataclass(frozen=True, kw_only=True)
class DerandomizedConfig(DefenseConfig):
    """Derandomized ablation: a randomized-ablation base classifier (the checkpoint of
    ``ablation-k{k}``) evaluated on the ``groups`` groups of a seeded random partition as fixed
    ablations, one vote each, certified exactly like ``PartitionConfig``.

    Attributes:
        k: the ablation defense whose trained base classifier is used; groups of about d / T
            positions match it best (T = 17 for k = 45 on MNIST: groups of 46 and 47).
        groups: T, 1 <= T <= d.
        partition_seed: the seed of the random partition.
        encoding, fill: that base classifier's NULL encoding.
    """

    k: int
    groups: int
    partition_seed: int = 0
    encoding: Encoding = Encoding.MULTICHANNEL
    fill: Fill = 0.0
    kind: str = "derandomized"

    certificates: ClassVar[tuple[str, ...]] = ("partition",)
    exact: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_groups(self.groups, self.d)
        if not 1 <= self.k <= self.d:
            raise ValueError(f"k = {self.k} is impossible: k must be in 1..{self.d}")

    @property
    def input_channels(self) -> int:
        return self.encoding.channels(self.image_shape[0])

    def trained_as(self) -> DefenseConfig:
        """The randomized-ablation defense whose base classifier this one evaluates."""
        mean = self.encoding is Encoding.MEAN_FILL
        return AblationConfig(
            name=f"ablation-{'mean-' if mean else ''}k{self.k}", k=self.k,
            encoding=self.encoding, fill=self.fill, dataset=self.dataset,
            architecture=self.architecture, image_shape=self.image_shape,
            num_classes=self.num_classes, precision=self.precision)

    def build(self, model: nn.Module, certify: CertifyConfig, *,
              device: torch.device | str = "cpu",
              calibration: torch.Tensor | None = None) -> Defense:
        owner = partition(self.image_shape[1:], self.groups, "random", self.partition_seed)
        masks = group_masks(owner, self.groups, (self.image_shape[1], self.image_shape[2]))
        voters = SharedBase(model, masks, self.encoding, self.fill)
        return PartitionVote(voters, num_classes=self.num_classes,
                             batch_size=certify.batch_size, precision=self.precision,
                             device=device, name=self.name)


@dataclass(frozen=True)
class TrainConfig:
    """How the base classifier is trained on noised images (Adam, warmup then cosine decay).

    The paper trains 400 epochs (``RECIPES["paper"]``: SGD, lr 0.01 then 0.001 from epoch 201,
    batch 128, one mask shared by the whole minibatch, PyTorch's default initialisation). 400
    epochs do not fit a 2-core CPU; the defaults here are
    chosen to fit 20 minutes there: an independent mask per training image, Kaiming (He)
    initialisation (PyTorch's default leaves this net nearly constant for its first epoch), Adam
    with one warmup epoch and cosine decay to zero, 24 fp32 epochs. On a CPU with native bf16 the
    default recipe is ``RECIPES["bf16"]`` instead: 64 epochs of bf16 autocast steps in about the
    same time (``bench.hardware.default_recipe``; docs/reproduction.md).

    Attributes:
        optimizer: "sgd" (momentum, optionally Nesterov) or "adam" (lr is Adam's step size).
        init: "kaiming" (He normal for conv/linear weights, zero biases) or "pytorch" (default).
        mask_sharing: "per-sample" (one noise draw per image) or "per-batch" (one draw shared by
            the minibatch, as the paper's code does for ablation masks).
        copies: noised copies of each image per step (an epoch then costs ``copies`` times
            more); ``batch_size`` counts images, so a step sees ``batch_size * copies`` inputs.
        consistency: weight of the consistency (KL) term of ``bench.losses.smoothing_loss``.
        entropy: weight of its entropy term.
        ema: decay of an exponential moving average of the weights, updated after every step
            (``bench.training.ema_decay``); the saved classifier is the average. 0: off, the
            saved classifier is the last step's weights.
        precision: arithmetic of the training steps: "fp32", or "bf16" (``torch.autocast``:
            convolutions and matmuls in bf16, weights, optimizer state and loss in fp32), about
            1.8x fp32's images/s on a CPU with native bf16 and 12x slower on one without.
        schedule: "warmup-cosine" (``warmup_epochs`` of linear warmup, then cosine decay to 0),
            "constant" (``lr`` throughout, but see ``lr_drop``) or "step" (``lr``, divided by 10
            at each epoch of ``lr_steps``, one optimizer throughout).
        lr_drop: with a constant schedule, the epoch after which the rate falls to lr / 10 and
            the optimizer starts afresh (momentum from zero), as the paper's code runs its
            second 200 epochs: a new invocation with a new optimizer. 0: never.
        augment: "none", "flip" (horizontal flips) or "crop-flip" (random crops of the image
            zero-padded by 4, then flips: the paper's CIFAR-10 augmentation), applied before
            the noise (``bench.train_images``).
        lr_steps: with the "step" schedule, the epochs (0-based, increasing) from which the
            rate is a further tenth: (21, 31) runs 21 epochs at lr, 10 at lr / 10, then lr / 100.
    """

    epochs: int = 24
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
    precision: TrainPrecision = "fp32"
    seed: int = 0
    schedule: Schedule = field(default="warmup-cosine", metadata=ADDED)
    lr_drop: int = field(default=0, metadata=ADDED)
    augment: Augment = field(default="none", metadata=ADDED)
    lr_steps: tuple[int, ...] = field(default=(), metadata=ADDED)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.copies < 1:
            raise ValueError("epochs, batch_size and copies must be >= 1")
        if self.weight_decay < 0:
            raise ValueError(f"weight decay must be >= 0, got {self.weight_decay}")
        if self.consistency < 0 or self.entropy < 0:
            raise ValueError(f"consistency and entropy must be >= 0, got {self.consistency} "
                             f"and {self.entropy}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if (self.consistency > 0 or self.entropy > 0) and self.copies < 2:
            raise ValueError("consistency and entropy compare several noised copies of an "
                             "image: they need copies >= 2")
        if self.copies > 1 and self.mask_sharing == "per-batch":
            raise ValueError("copies > 1 needs per-sample noise (a shared draw makes the copies "
                             "identical)")
        if self.schedule not in ("warmup-cosine", "constant", "step"):
            raise ValueError(f"schedule must be 'warmup-cosine', 'constant' or 'step', got "
                             f"{self.schedule!r}")
        if (self.schedule == "step") != bool(self.lr_steps) or list(self.lr_steps) != sorted(
                set(self.lr_steps)) or any(e < 1 for e in self.lr_steps):
            raise ValueError(f"lr_steps must be increasing epochs >= 1, given with the 'step' "
                             f"schedule only, got {self.lr_steps} with {self.schedule!r}")
        if self.augment not in ("none", "flip", "crop-flip"):
            raise ValueError(f"augment must be 'none', 'flip' or 'crop-flip', got "
                             f"{self.augment!r}")
        if self.lr_drop < 0 or (self.lr_drop and self.schedule != "constant"):
            raise ValueError(f"lr_drop must be 0, or an epoch >= 1 with the constant schedule, "
                             f"got {self.lr_drop} with {self.schedule!r}")


RECIPES: dict[str, TrainConfig] = {
    # 24 fp32 epochs: 16.8 min on a 2-core AVX2 CPU without native bf16
    "fp32": TrainConfig(epochs=24, precision="fp32"),
    # 64 bf16 epochs: 19.7 min on a 2-core CPU with AVX-512 BF16
    "bf16": TrainConfig(epochs=64, precision="bf16"),
}
"""The default recipe of smoothed defenses, by the training precision the machine runs fast."""

PAPER_RECIPE = TrainConfig(
    epochs=400, batch_size=128, optimizer="sgd", lr=0.01, momentum=0.9, nesterov=False,
    weight_decay=0.0, warmup_epochs=0, init="pytorch", mask_sharing="per-batch",
    precision="fp32", schedule="constant", lr_drop=200)
"""Levine & Feizi's MNIST training, as their code runs it: SGD (momentum 0.9, no Nesterov, no
weight decay), batch 128, one ablation mask per minibatch, PyTorch's default initialisation,
200 epochs at lr 0.01, then 200 more at 0.001 with a fresh optimizer."""

PAPER_RECIPES: dict[str, TrainConfig] = {
    "mnist": PAPER_RECIPE,
    # as MNIST's, with weight decay 5e-4 and random crops (padding 4) and flips
    "cifar10": TrainConfig(
        epochs=400, batch_size=128, optimizer="sgd", lr=0.01, momentum=0.9, nesterov=False,
        weight_decay=5e-4, warmup_epochs=0, init="pytorch", mask_sharing="per-batch",
        precision="fp32", schedule="constant", lr_drop=200, augment="crop-flip"),
    # 36 epochs: lr 0.1 for 21, 0.01 for 10, 0.001 for 5; batch 256, weight decay 1e-4. The
    # paper's RandomResizedCrop(224) needs the full-size images; the streamed 224 x 224 centre
    # crops get flips only
    "imagenet": TrainConfig(
        epochs=36, batch_size=256, optimizer="sgd", lr=0.1, momentum=0.9, nesterov=False,
        weight_decay=1e-4, warmup_epochs=0, init="pytorch", mask_sharing="per-batch",
        precision="fp32", schedule="step", lr_steps=(21, 31), augment="flip"),
}
"""Levine & Feizi's training per dataset (``bench train --recipe paper``)."""

NAMED_RECIPES: dict[str, TrainConfig | None] = {
    "default": None,
    "paper": PAPER_RECIPE,
    "fp32": RECIPES["fp32"],
    "bf16": RECIPES["bf16"],
}
"""``bench train --recipe NAME``: "default" (the defense family's own recipe, else the machine's
default, ``bench.hardware.default_recipe``), the paper's (for the defense's dataset:
``PAPER_RECIPES``), or a default recipe by name."""


@dataclass(frozen=True)
class Profile:
    """Settings every command shares, named: the flags' defaults (a flag given overrides them).

    Attributes:
        name: "quick" or "paper".
        description: one line for ``--help``.
        certify_limit: test images certified (``certify``, ``sweep``, ``compare``); None: all.
        attack_limit: test images attacked (``attack``, and both steps of ``run``).
        n0: CERTIFY's selection samples.
        n: estimation samples, PREDICT's votes and each attack query's.
        alpha: failure probability.
        restarts: attack restarts per image.
        mask_policy: how a smoothed defense answers attack queries.
    """

    name: str
    description: str
    certify_limit: int | None
    attack_limit: int
    n0: int
    n: int
    alpha: float
    restarts: int
    mask_policy: MaskPolicy


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", "minutes on a 2-core CPU", certify_limit=100, attack_limit=10,
                     n0=100, n=1000, alpha=0.05, restarts=2, mask_policy="fixed"),
    "paper": Profile("paper", "the paper's protocol; hours to days on a CPU", certify_limit=None,
                     attack_limit=275, n0=1000, n=10000, alpha=0.05, restarts=10,
                     mask_policy="fresh"),
}
