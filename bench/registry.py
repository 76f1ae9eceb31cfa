"""The only name -> config tables: defenses (and, later, attacks).

Defense names are parametric (``ablation-k{K}``): each entry is a pattern, a description and a
function that turns the pattern's match into a config.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from bench.configs import AblationConfig
from bench.errors import InputError
from defenses.encodings import Encoding

__all__ = ["DEFENSES", "DefenseConfig", "DefenseEntry", "resolve_defense"]

DefenseConfig = AblationConfig
MNIST_D = 28 * 28


@dataclass(frozen=True)
class DefenseEntry:
    """One registered defense family: name pattern, an example name and its description."""

    display: str
    pattern: str
    example: str
    description: str
    build: Callable[[re.Match[str]], DefenseConfig]


def _ablation(match: re.Match[str]) -> AblationConfig:
    k = int(match.group("k"))
    if not 1 <= k <= MNIST_D:
        raise InputError(
            f"k = {k} is impossible for MNIST: k must be in 1..{MNIST_D} (the number of pixel "
            f"positions). Try ablation-k45, the paper's choice."
        )
    return AblationConfig(name=match.group(0), k=k, encoding=Encoding.MULTICHANNEL)


DEFENSES: tuple[DefenseEntry, ...] = (
    DefenseEntry(
        "ablation-k{K}",
        r"ablation-k(?P<k>\d+)",
        "ablation-k45",
        "randomized ablation (Levine & Feizi 2020): keep K of 784 pixels, multichannel NULL "
        "encoding (x, 1-x) / (0, 0), paper's MNIST CNN; certified L0 radius",
        _ablation,
    ),
)


def resolve_defense(name: str) -> DefenseConfig:
    """The config of a registered defense name; InputError naming the nearest names otherwise."""
    for entry in DEFENSES:
        match = re.fullmatch(entry.pattern, name)
        if match:
            return entry.build(match)
    examples = [e.example for e in DEFENSES]
    near = difflib.get_close_matches(name, examples, n=3, cutoff=0.3)
    hint = f" Did you mean {', '.join(near)}?" if near else ""
    raise InputError(
        f"unknown defense {name!r}.{hint} `bench list` shows the registered defenses "
        f"({', '.join(e.display for e in DEFENSES)})."
    )
