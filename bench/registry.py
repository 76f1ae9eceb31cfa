"""The open registries: defense families, attacks, datasets and architectures, by name.

The built-in entries are registered here. Third-party code adds its own in either of two ways,
and the CLI, the Python API and parallel workers all see them:

- an entry point in one of the groups ``bench.defenses``, ``bench.attacks``, ``bench.datasets``
  and ``bench.architectures`` (in the plugin package's ``pyproject.toml``), naming an entry (a
  ``DefenseFamily``, an ``Attack`` subclass, a ``DatasetEntry``, an ``Architecture``), a list of
  them, or a module that registers its entries when imported; loaded on first use;
- a module given to ``--plugin`` or ``bench.load_plugins`` that calls the ``register_*``
  functions when imported.

docs/extending.md shows one of each.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import sys
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from torch import nn

from attacks.base import Attack
from attacks.foolbox_l0 import FMNL0, BrendelBethgeL0
from attacks.foolbox_l2 import DDN, FMNL2, BrendelBethgeL2
from attacks.pgd0 import PGD0
from attacks.pointwise import Pointwise
from attacks.sigma_zero import SigmaZero
from attacks.sparse_rs import SparseRS
from bench.cifar import CIFAR10_MEAN, load_cifar10
from bench.configs import (
    AblationConfig,
    DefenseConfig,
    DerandomizedConfig,
    GaussianConfig,
    LeeConfig,
    PartitionConfig,
    TrainConfig,
    UndefendedConfig,
)
from bench.data import Splits, load_mnist
from bench.ensemble import Ensemble
from bench.errors import InputError
from bench.image_folder import IMAGENET_MEAN, load_image_folder
from defenses.encodings import Encoding
from defenses.lee_math import check_kappa, to_fraction
from defenses.models import group_mlp, mnist_cnn
from defenses.resnet import resnet18_cifar, resnet50_imagenet

__all__ = [
    "ENTRY_POINT_GROUPS",
    "Architecture",
    "DatasetEntry",
    "DefenseFamily",
    "architectures",
    "attack_class",
    "attack_classes",
    "build_architecture",
    "dataset_entries",
    "dataset_entry",
    "defense_families",
    "defense_family",
    "image_folder_dataset",
    "load_plugins",
    "loaded_plugins",
    "register_architecture",
    "register_attack",
    "register_dataset",
    "register_defense",
    "resolve_defense",
]

@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset.

    Attributes:
        name: registry name (``--dataset``), part of every result's identity.
        description: one line for ``bench list``.
        image_shape: (C, H, W) of its images.
        num_classes: number of classes.
        mean: per-channel mean of the training images in [0, 1] (the mean-NULL fill).
        load: ``load(root, *, allow_download, allow_sample) -> Splits``; ``root`` is the folder
            given by ``--data-root`` (or None), and a missing or corrupt file is an
            ``InputError`` that says where to put the files.
        architecture: the registered architecture of the base classifiers of defenses on it
            (ablation, Lee, Gaussian, the undefended classifier).
        example_k: the ablation k to suggest in errors (the paper's choice for the dataset).
    """

    name: str
    description: str
    image_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    load: Callable[..., Splits]
    architecture: str = "mnist-cnn"
    example_k: int = 45


@dataclass(frozen=True)
class Architecture:
    """A registered base-classifier architecture.

    Attributes:
        name: registry name (a defense config's ``architecture``).
        build: ``build(in_channels, num_classes, image_shape) -> nn.Module``, logits out; it
            must build the same initial weights whenever torch's global generator is seeded the
            same way.
        description: one line for ``bench list``.
    """

    name: str
    build: Callable[[int, int, tuple[int, int, int]], nn.Module]
    description: str = ""


@dataclass(frozen=True)
class DefenseFamily:
    """A registered defense family: names matching ``pattern`` build a config.

    Attributes:
        display: the name pattern as users read it, e.g. ``ablation-k{K}``.
        pattern: a regular expression for the names (its groups feed ``build``).
        example: one valid name.
        description: one line for ``bench list``.
        build: ``build(match, dataset) -> DefenseConfig`` for a matching name on a dataset;
            raises ``InputError`` for impossible parameters, naming the fix.
        train: the family's own training recipe, or None for the default recipe of smoothed
            defenses (``bench.hardware.default_recipe``).
        fast_inference: whether precision "auto" may pick bf16 (smoothed defenses, whose
            forwards come in large batches) or always fp32.
    """

    display: str
    pattern: str
    example: str
    description: str
    build: Callable[[re.Match[str], DatasetEntry], DefenseConfig]
    train: TrainConfig | None = None
    fast_inference: bool = True


ENTRY_POINT_GROUPS = ("bench.defenses", "bench.attacks", "bench.datasets",
                      "bench.architectures")

_DEFENSES: dict[str, DefenseFamily] = {}
_ATTACKS: dict[str, type[Attack]] = {}
_DATASETS: dict[str, DatasetEntry] = {}
_ARCHITECTURES: dict[str, Architecture] = {}
_PLUGINS: list[str] = []  # modules loaded through load_plugins, in order
_PLUGIN_PATHS: list[str] = []  # folders load_plugins added to sys.path to import them
_entry_points_loaded = False


def _add(table: dict[str, Any], name: str, entry: Any, what: str) -> None:
    if name in table and table[name] is not entry and table[name] != entry:
        raise ValueError(f"a {what} named {name!r} is already registered")
    table[name] = entry


def register_defense(family: DefenseFamily) -> DefenseFamily:
    """Add a defense family (an error if another with the same display name exists)."""
    _add(_DEFENSES, family.display, family, "defense family")
    return family


def register_attack(attack: type[Attack]) -> type[Attack]:
    """Add an attack class (usable as a class decorator)."""
    if not (isinstance(attack, type) and issubclass(attack, Attack)):
        raise TypeError(f"register_attack takes an Attack subclass, got {attack!r}")
    _add(_ATTACKS, attack.name, attack, "attack")
    return attack


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Add a dataset."""
    _add(_DATASETS, entry.name, entry, "dataset")
    return entry


def register_architecture(architecture: Architecture) -> Architecture:
    """Add a base-classifier architecture."""
    _add(_ARCHITECTURES, architecture.name, architecture, "architecture")
    return architecture


_REGISTER: dict[str, tuple[type, Callable[[Any], Any]]] = {
    "bench.defenses": (DefenseFamily, register_defense),
    "bench.attacks": (type, register_attack),
    "bench.datasets": (DatasetEntry, register_dataset),
    "bench.architectures": (Architecture, register_architecture),
}


def _register_loaded(group: str, obj: Any, origin: str) -> None:
    if isinstance(obj, types.ModuleType):
        return  # it registered its entries when imported
    kind, register = _REGISTER[group]
    for item in obj if isinstance(obj, list | tuple) else [obj]:
        if not isinstance(item, kind):
            raise InputError(f"plugin {origin} ({group}) gave {item!r}, not a "
                             f"{'an Attack subclass' if kind is type else kind.__name__}")
        register(item)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for group in ENTRY_POINT_GROUPS:
        for point in entry_points(group=group):
            try:
                obj = point.load()
            except Exception as e:
                raise InputError(f"plugin entry point {point.name} = {point.value} ({group}) "
                                 f"failed to load: {type(e).__name__}: {e}") from None
            _register_loaded(group, obj, f"{point.name} = {point.value}")


def load_plugins(modules: Iterable[str], search: Iterable[str] = ()) -> None:
    """Import each module (dotted path), which registers its entries; InputError naming the
    module when one cannot be imported. The working directory and the folders ``search`` are
    searched too (parallel workers get the folders the driver searched)."""
    for folder in [*search, os.getcwd()]:
        if folder not in sys.path and folder not in _PLUGIN_PATHS:
            sys.path.append(folder)
            _PLUGIN_PATHS.append(folder)
    for name in modules:
        if name in _PLUGINS:
            continue
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise InputError(f"--plugin {name}: cannot import it ({e}). Give a module path "
                             "importable from here, e.g. my_plugin or mypackage.bench_plugin.") \
                from None
        _PLUGINS.append(name)


def loaded_plugins() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The modules ``load_plugins`` imported, in order, and the folders it added to the import
    path: what parallel workers load too."""
    return tuple(_PLUGINS), tuple(_PLUGIN_PATHS)


def _unknown(what: str, name: str, known: list[str], hint: str) -> InputError:
    near = difflib.get_close_matches(name, known, n=3, cutoff=0.3)
    suggestion = f" Did you mean {', '.join(near)}?" if near else ""
    return InputError(f"unknown {what} {name!r}.{suggestion} {hint}")


def defense_families() -> tuple[DefenseFamily, ...]:
    """The registered defense families, in registration order."""
    _load_entry_points()
    return tuple(_DEFENSES.values())


def defense_family(name: str) -> tuple[DefenseFamily, re.Match[str]]:
    """The family whose pattern matches ``name``; InputError naming the nearest names
    otherwise."""
    families = defense_families()
    for family in families:
        match = re.fullmatch(family.pattern, name)
        if match:
            return family, match
    raise _unknown("defense", name, [f.example for f in families],
                   f"`bench list` shows the registered defenses "
                   f"({', '.join(f.display for f in families)}).")


def dataset_entries() -> tuple[DatasetEntry, ...]:
    _load_entry_points()
    return tuple(_DATASETS.values())


def dataset_entry(name: str) -> DatasetEntry:
    """The registered dataset ``name``; InputError naming the registered ones otherwise."""
    _load_entry_points()
    if name in _DATASETS:
        return _DATASETS[name]
    raise _unknown("dataset", name, list(_DATASETS),
                   f"Registered datasets: {', '.join(_DATASETS)}.")


def resolve_defense(name: str, dataset: str | DatasetEntry = "mnist") -> DefenseConfig:
    """The config of a registered defense name on a dataset; InputError naming the nearest
    names, or the impossible parameter, otherwise."""
    entry = dataset if isinstance(dataset, DatasetEntry) else dataset_entry(dataset)
    family, match = defense_family(name)
    return family.build(match, entry)


def attack_classes() -> tuple[type[Attack], ...]:
    _load_entry_points()
    return tuple(_ATTACKS.values())


def attack_class(name: str) -> type[Attack]:
    """The registered attack ``name``; InputError naming the registered ones otherwise."""
    _load_entry_points()
    if name in _ATTACKS:
        return _ATTACKS[name]
    raise _unknown("attack", name, list(_ATTACKS),
                   f"Registered attacks: {', '.join(_ATTACKS)}.")


def architectures() -> tuple[Architecture, ...]:
    _load_entry_points()
    return tuple(_ARCHITECTURES.values())


def build_architecture(name: str, in_channels: int, num_classes: int,
                       image_shape: tuple[int, int, int]) -> nn.Module:
    """An untrained base classifier of a registered architecture."""
    _load_entry_points()
    if name not in _ARCHITECTURES:
        raise _unknown("architecture", name, list(_ARCHITECTURES),
                       f"Registered architectures: {', '.join(_ARCHITECTURES)}.")
    return _ARCHITECTURES[name].build(in_channels, num_classes, image_shape)


# --- built-in entries --------------------------------------------------------------------------


def _load_mnist(root: Any = None, *, allow_download: bool = True,
                allow_sample: bool = True) -> Splits:
    return load_mnist(root, allow_download=allow_download, allow_sample=allow_sample)


register_dataset(DatasetEntry(
    "mnist", "MNIST from its four original IDX .gz files (md5-checked), 60,000 train / 10,000 "
    "test digits, 28x28 grey", (1, 28, 28), 10,
    # the training-set pixel mean (0.13066 to 5 digits), hard-coded as in the paper's code
    (0.1307,), _load_mnist))


def _load_cifar10(root: Any = None, *, allow_download: bool = True,
                  allow_sample: bool = True) -> Splits:
    return load_cifar10(root)


register_dataset(DatasetEntry(
    "cifar10", "CIFAR-10 from its python-pickle batches (cifar-10-batches-py, md5-checked; never "
    "downloaded), 50,000 train / 10,000 test images, 32x32 colour", (3, 32, 32), 10,
    CIFAR10_MEAN, _load_cifar10, architecture="resnet18-cifar", example_k=75))


def image_folder_dataset(name: str, num_classes: int, *, resize: int = 256, crop: int = 224,
                         mean: tuple[float, float, float] = IMAGENET_MEAN,
                         architecture: str = "resnet50", example_k: int = 1000,
                         description: str = "") -> DatasetEntry:
    """A dataset entry for a class-folder tree (``bench.image_folder``: ``train/<class>/``,
    ``val/<class>/``), streamed, each image resized to ``resize`` on its shorter side and
    centre-cropped to ``crop``; register it with ``register_dataset``."""
    def load(root: Any = None, *, allow_download: bool = True,
             allow_sample: bool = True) -> Splits:
        return load_image_folder(root, name=name, num_classes=num_classes, resize=resize,
                                 crop=crop)

    return DatasetEntry(
        name, description or (f"class-folder images (train/<class>/, val/<class>/), streamed, "
                              f"resized to {resize} and centre-cropped to {crop}x{crop}, "
                              f"{num_classes} classes"),
        (3, crop, crop), num_classes, mean, load, architecture=architecture,
        example_k=example_k)


register_dataset(image_folder_dataset(
    "imagenet", 1000, description="ImageNet (ILSVRC-2012) as a class-folder tree "
    "(train/<synset>/*.JPEG, val/<synset>/*.JPEG; nothing is downloaded), streamed, resized to "
    "256 and centre-cropped to 224x224 as the paper does"))

register_architecture(Architecture(
    "resnet18-cifar", lambda channels, classes, shape: resnet18_cifar(channels, classes),
    "ResNet-18 in its CIFAR-10 form (3x3 stem, no max pooling): basic blocks 2-2-2-2, for "
    "32x32 colour images"))
register_architecture(Architecture(
    "resnet50", lambda channels, classes, shape: resnet50_imagenet(channels, classes),
    "ResNet-50 in its ImageNet form (7x7 stride-2 stem, max pooling): bottleneck blocks "
    "3-4-6-3, for 224x224 colour images"))
register_architecture(Architecture(
    "mnist-cnn", lambda channels, classes, shape: mnist_cnn(channels, classes, shape[1:]),
    "the paper's MNIST CNN: two 4x4 stride-2 convolutions (64, 128), FC 500, FC 100"))
register_architecture(Architecture(
    "group-mlp", lambda channels, classes, shape: group_mlp(channels, classes, shape[1:]),
    "a 3-layer fully connected network (256, 256) on any input: a partition defense's "
    "submodel"))


def _k(match: re.Match[str], dataset: DatasetEntry) -> int:
    k = int(match.group("k"))
    d = dataset.image_shape[1] * dataset.image_shape[2]
    if not 1 <= k <= d:
        raise InputError(
            f"k = {k} is impossible for {dataset.name}: k must be in 1..{d} (the number of pixel "
            f"positions). Try ablation-k{dataset.example_k}, the paper's choice for "
            f"{dataset.name}.")
    return k


def _common(match: re.Match[str], dataset: DatasetEntry) -> dict[str, Any]:
    return {"name": match.group(0), "dataset": dataset.name, "image_shape": dataset.image_shape,
            "num_classes": dataset.num_classes}


def _with_base(match: re.Match[str], dataset: DatasetEntry) -> dict[str, Any]:
    """``_common`` and the dataset's base-classifier architecture."""
    return {**_common(match, dataset), "architecture": dataset.architecture}


def _mean_fill(dataset: DatasetEntry) -> float | tuple[float, ...]:
    """The mean-NULL fill of a dataset: its mean, one number for one channel (as MNIST's
    identities have always recorded it), a tuple per channel otherwise."""
    return dataset.mean[0] if len(dataset.mean) == 1 else tuple(dataset.mean)


def _ablation(match: re.Match[str], dataset: DatasetEntry) -> AblationConfig:
    return AblationConfig(k=_k(match, dataset), encoding=Encoding.MULTICHANNEL,
                          **_with_base(match, dataset))


def _ablation_mean(match: re.Match[str], dataset: DatasetEntry) -> AblationConfig:
    if len(dataset.mean) != dataset.image_shape[0]:
        raise InputError(f"{match.group(0)}: {dataset.name} registers {len(dataset.mean)} "
                         f"channel means for {dataset.image_shape[0]}-channel images; the "
                         "mean-NULL encoding needs one per channel.")
    return AblationConfig(k=_k(match, dataset), encoding=Encoding.MEAN_FILL,
                          fill=_mean_fill(dataset), **_with_base(match, dataset))


def _lee(match: re.Match[str], dataset: DatasetEntry) -> LeeConfig:
    kappa = float(match.group("kappa"))
    try:
        check_kappa(to_fraction(kappa), 256)
    except ValueError:
        raise InputError(
            f"kappa = {kappa} is impossible: Lee et al.'s noise keeps a pixel value with "
            "probability kappa, which must be in (1/256, 1] (at or below 1/256 the noise hides "
            "the image and nothing is certified). Try lee-kappa0.3, the value chosen for MNIST."
        ) from None
    return LeeConfig(kappa=kappa, **_with_base(match, dataset))


register_defense(DefenseFamily(
    "ablation-k{K}", r"ablation-k(?P<k>\d+)", "ablation-k45",
    "randomized ablation (Levine & Feizi 2020): keep K pixel positions, multichannel NULL "
    "encoding (x, 1-x) / (0, 0), the dataset's base classifier (mnist-cnn, resnet18-cifar, "
    "resnet50); certified L0 radius",
    _ablation))
register_defense(DefenseFamily(
    "ablation-mean-k{K}", r"ablation-mean-k(?P<k>\d+)", "ablation-mean-k45",
    "randomized ablation with the mean NULL encoding (Table 8): ablated pixels set to the "
    "training-set mean of each channel (0.1307 on MNIST), the image's own channels; certified "
    "L0 radius",
    _ablation_mean))
register_defense(DefenseFamily(
    "lee-kappa{KAPPA}", r"lee-kappa(?P<kappa>\d*\.?\d+)", "lee-kappa0.3",
    "Lee et al. 2019 random-value smoothing (Table 7): each pixel kept with probability "
    "KAPPA, else a uniformly random other of its 256 levels; Lee's L0 certificate",
    _lee))


def _gaussian(match: re.Match[str], dataset: DatasetEntry) -> GaussianConfig:
    sigma = float(match.group("sigma"))
    if not 0 < sigma <= 10:
        raise InputError(f"sigma = {sigma} is impossible: the noise's standard deviation must "
                         "be in (0, 10] (pixel values lie in [0, 1]). Try gaussian-sigma0.25, "
                         "Cohen et al.'s smallest setting.")
    return GaussianConfig(sigma=sigma, **_with_base(match, dataset))


register_defense(DefenseFamily(
    "gaussian-sigma{S}", r"gaussian-sigma(?P<sigma>\d*\.?\d+)", "gaussian-sigma0.25",
    "Cohen et al. 2019 Gaussian smoothing: isotropic Gaussian noise of standard deviation S "
    "on every coordinate; certified L2 radius S * PhiInverse(p_lower) (an L2 threat model: "
    "reported apart from every L0 result)",
    _gaussian))


def _groups(match: re.Match[str], dataset: DatasetEntry) -> int:
    groups = int(match.group("t"))
    d = dataset.image_shape[1] * dataset.image_shape[2]
    if not 1 <= groups <= d:
        raise InputError(
            f"T = {groups} groups is impossible for {dataset.name}: T must be in 1..{d} (the "
            "number of pixel positions). Try fpa-t25.")
    return groups


def _partition(match: re.Match[str], dataset: DatasetEntry) -> PartitionConfig:
    return PartitionConfig(groups=_groups(match, dataset), **_common(match, dataset))


def _strided(match: re.Match[str], dataset: DatasetEntry) -> PartitionConfig:
    return PartitionConfig(groups=_groups(match, dataset), layout="strided",
                           **_common(match, dataset))


FPA_RECIPE = TrainConfig(epochs=25, lr=1e-3, precision="fp32")
"""The partition defenses' recipe: 25 epochs of Adam (as the FPA paper's 25 of AdamW), fp32."""


def _derandomized(match: re.Match[str], dataset: DatasetEntry) -> DerandomizedConfig:
    return DerandomizedConfig(k=_k(match, dataset), groups=_groups(match, dataset),
                              **_with_base(match, dataset))


register_defense(DefenseFamily(
    "fpa-t{T}", r"fpa-t(?P<t>\d+)", "fpa-t25",
    "feature partition aggregation (Hammoudeh & Lowd 2024): the pixel positions dealt into T "
    "groups, one small network per group, plurality vote; exact certified L0 radius, T "
    "forward passes per image",
    _partition, train=FPA_RECIPE, fast_inference=False))
register_defense(DefenseFamily(
    "fpa-strided-t{T}", r"fpa-strided-t(?P<t>\d+)", "fpa-strided-t25",
    "feature partition aggregation with the FPA paper's MNIST layout: pixel positions walked "
    "column by column and dealt round-robin into T groups, so each is a regular lattice",
    _strided, train=FPA_RECIPE, fast_inference=False))
register_defense(DefenseFamily(
    "derand-ablation-k{K}-t{T}", r"derand-ablation-k(?P<k>\d+)-t(?P<t>\d+)",
    "derand-ablation-k45-t17",
    "derandomized ablation: ablation-kK's trained base classifier on the T groups of a random "
    "partition as fixed ablations, plurality vote; exact certified L0 radius",
    _derandomized, fast_inference=False))
register_defense(DefenseFamily(
    "cnn", r"cnn", "cnn",
    "undefended baseline: the dataset's CNN on the plain image (never abstains, certified "
    "radius 0; Table 2's first row)",
    lambda match, dataset: UndefendedConfig(**_with_base(match, dataset)),
    train=TrainConfig(epochs=8, precision="fp32"), fast_inference=False))

for _attack in (Pointwise, SigmaZero, FMNL0, BrendelBethgeL0, SparseRS, PGD0, Ensemble, FMNL2, DDN,
                BrendelBethgeL2):
    register_attack(_attack)
