"""The only name -> config tables: defenses and attacks.

Defense names are parametric (``ablation-k{K}``): each entry is a pattern, a description and a
function that turns the pattern's match into a config.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from bench.configs import (
    AblationConfig,
    DefenseConfig,
    LeeConfig,
    TrainConfig,
    UndefendedConfig,
)
from bench.errors import InputError
from defenses.encodings import Encoding

__all__ = ["ATTACKS", "DEFENSES", "DefenseConfig", "DefenseEntry", "default_train",
           "defense_entry", "resolve_attack", "resolve_defense"]

MNIST_D = 28 * 28
_DEFAULT_TRAIN = TrainConfig()


@dataclass(frozen=True)
class DefenseEntry:
    """One registered defense family: name pattern, an example name, its description, and the
    training recipe used when the command line does not override it."""

    display: str
    pattern: str
    example: str
    description: str
    build: Callable[[re.Match[str]], DefenseConfig]
    train: TrainConfig = _DEFAULT_TRAIN


def _ablation(match: re.Match[str]) -> AblationConfig:
    k = int(match.group("k"))
    if not 1 <= k <= MNIST_D:
        raise InputError(
            f"k = {k} is impossible for MNIST: k must be in 1..{MNIST_D} (the number of pixel "
            f"positions). Try ablation-k45, the paper's choice."
        )
    return AblationConfig(name=match.group(0), k=k, encoding=Encoding.MULTICHANNEL)


MNIST_MEAN = 0.1307
"""The MNIST training-set pixel mean (0.13066 to 5 digits), hard-coded as in the paper's code."""


def _ablation_mean(match: re.Match[str]) -> AblationConfig:
    k = _ablation(match).k
    return AblationConfig(name=match.group(0), k=k, encoding=Encoding.MEAN_FILL, fill=MNIST_MEAN)


def _lee(match: re.Match[str]) -> LeeConfig:
    kappa = float(match.group("kappa"))
    if not 1 / 256 < kappa <= 1:
        raise InputError(
            f"kappa = {kappa} is impossible: Lee et al.'s noise keeps a pixel value with "
            "probability kappa, which must be in (1/256, 1] (at or below 1/256 the noise hides "
            "the image and nothing is certified). Try lee-kappa0.3, the value chosen for MNIST."
        )
    return LeeConfig(name=match.group(0), kappa=kappa)


DEFENSES: tuple[DefenseEntry, ...] = (
    DefenseEntry(
        "ablation-k{K}",
        r"ablation-k(?P<k>\d+)",
        "ablation-k45",
        "randomized ablation (Levine & Feizi 2020): keep K of 784 pixels, multichannel NULL "
        "encoding (x, 1-x) / (0, 0), paper's MNIST CNN; certified L0 radius",
        _ablation,
    ),
    DefenseEntry(
        "ablation-mean-k{K}",
        r"ablation-mean-k(?P<k>\d+)",
        "ablation-mean-k45",
        "randomized ablation with the mean NULL encoding (Table 8): ablated pixels set to the "
        f"training-set mean {MNIST_MEAN}, one input channel; certified L0 radius",
        _ablation_mean,
    ),
    DefenseEntry(
        "lee-kappa{KAPPA}",
        r"lee-kappa(?P<kappa>\d*\.?\d+)",
        "lee-kappa0.3",
        "Lee et al. 2019 random-value smoothing (Table 7): each pixel kept with probability "
        "KAPPA, else a uniformly random other of its 256 grey levels; Lee's L0 certificate",
        _lee,
    ),
    DefenseEntry(
        "cnn",
        r"cnn",
        "cnn",
        "undefended baseline: the paper's MNIST CNN on the plain image (never abstains, "
        "certified radius 0; Table 2's first row)",
        lambda match: UndefendedConfig(name=match.group(0)),
        TrainConfig(epochs=8, precision="fp32"),
    ),
)

ATTACKS: dict[str, str] = {
    "pointwise": "Foolbox 3 Pointwise attack (Schott et al. 2019) from a salt-and-pepper start, "
                 "best L0 of --restarts runs; an abstention counts as a successful attack",
}


def defense_entry(name: str) -> tuple[DefenseEntry, re.Match[str]]:
    """The registry entry matching ``name``; InputError naming the nearest names otherwise."""
    for entry in DEFENSES:
        match = re.fullmatch(entry.pattern, name)
        if match:
            return entry, match
    examples = [e.example for e in DEFENSES]
    near = difflib.get_close_matches(name, examples, n=3, cutoff=0.3)
    hint = f" Did you mean {', '.join(near)}?" if near else ""
    raise InputError(
        f"unknown defense {name!r}.{hint} `bench list` shows the registered defenses "
        f"({', '.join(e.display for e in DEFENSES)})."
    )


def resolve_defense(name: str) -> DefenseConfig:
    """The config of a registered defense name; InputError naming the nearest names otherwise."""
    entry, match = defense_entry(name)
    return entry.build(match)


def default_train(name: str) -> TrainConfig:
    """The training recipe a defense uses unless the command line overrides it."""
    return defense_entry(name)[0].train


def resolve_attack(name: str) -> str:
    """A registered attack name; InputError naming the registered ones otherwise."""
    if name in ATTACKS:
        return name
    near = difflib.get_close_matches(name, list(ATTACKS), n=3, cutoff=0.3)
    hint = f" Did you mean {', '.join(near)}?" if near else ""
    raise InputError(f"unknown attack {name!r}.{hint} Registered attacks: {', '.join(ATTACKS)}.")
