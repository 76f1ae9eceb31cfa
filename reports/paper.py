"""The paper's published numbers (Levine & Feizi 2020), keyed by (dataset, table) and defense, so
a row is only ever printed beside the number published for the same dataset."""

from __future__ import annotations

from typing import Any

__all__ = ["PAPER", "SWEEP_TABLES", "paper_sweep", "paper_value"]

_TABLE1_MNIST: dict[int, tuple[float, float, int | None]] = {
    # k: (accuracy %, abstained %, median certified robustness; None = N/A), full MNIST test set
    5: (32.32, 5.65, None), 10: (74.90, 5.08, 0), 15: (86.09, 2.82, 0), 20: (90.29, 1.81, 3),
    25: (93.05, 1.02, 5), 30: (94.68, 0.77, 7), 35: (95.40, 0.66, 7), 40: (96.27, 0.52, 8),
    45: (96.72, 0.45, 8), 50: (97.16, 0.32, 7), 55: (97.41, 0.34, 7), 60: (97.78, 0.18, 7),
    65: (98.05, 0.15, 6), 70: (98.18, 0.20, 6), 75: (98.28, 0.20, 6), 80: (98.37, 0.12, 5),
    85: (98.57, 0.12, 5), 90: (98.58, 0.16, 5), 95: (98.73, 0.11, 5), 100: (98.75, 0.16, 4),
}

_TABLE3_CIFAR10: dict[int, tuple[float, float, int | None]] = {
    # k: (accuracy %, abstained %, median certified robustness), ResNet-18 with 6 input
    # channels, the full CIFAR-10 test set
    25: (68.41, 1.76, 6), 50: (74.21, 1.19, 7), 75: (78.25, 0.93, 7), 100: (80.91, 0.86, 6),
    125: (83.25, 0.60, 5), 150: (85.22, 0.53, 4),
}
_TABLE6_IMAGENET: dict[int, tuple[float, float, int | None]] = {
    # k: (accuracy %, abstained %, median certified robustness), ResNet-50 with 6 input
    # channels, 400 random validation images (224 x 224)
    500: (52.75, 1.75, 0), 1000: (61.00, 0.00, 16), 2000: (62.50, 1.75, 11),
}

PAPER: dict[tuple[str, str], dict[str, tuple[Any, ...]]] = {
    ("mnist", "table1"): {f"ablation-k{k}": v for k, v in _TABLE1_MNIST.items()},
    # (clean accuracy %, median Pointwise L0, best of 10 restarts); the CNN row is Schott et al.'s
    # (quoted by the paper), the ablation row used N = 10,000 fresh samples per query on 275
    # test images
    ("mnist", "table2"): {"cnn": (99.1, 9.0), "ablation-k45": (96.7, 31.0)},
    # median certified robustness of the best Lee et al. model ("lee": any kappa) and of ablation
    ("mnist", "table7"): {"lee": (4,), "ablation-k45": (8,)},
    # k = 45: accuracy %, abstained %, median certified robustness per NULL encoding
    ("mnist", "table8"): {"ablation-k45": (96.72, 0.45, 8), "ablation-mean-k45": (96.27, 0.43, 7)},
    ("cifar10", "table3"): {f"ablation-k{k}": v for k, v in _TABLE3_CIFAR10.items()},
    # the undefended ResNet-18's clean accuracy; the paper attacks no CIFAR-10 model
    ("cifar10", "table2"): {"cnn": (93.02, None)},
    ("cifar10", "table8"): {"ablation-k75": (78.25, 0.93, 7),
                            "ablation-mean-k75": (77.71, 1.05, 7)},
    ("imagenet", "table6"): {f"ablation-k{k}": v for k, v in _TABLE6_IMAGENET.items()},
    # Lee et al.'s ImageNet radius counts colour channel values, not pixel positions
    ("imagenet", "table7"): {"lee": (1,), "ablation-k1000": (16,)},
}

SWEEP_TABLES = {"mnist": "table1", "cifar10": "table3", "imagenet": "table6"}
"""The paper's table of ablation accuracy and median certificate over k, per dataset (Table 1's
columns)."""


def paper_value(dataset: str, table: str, defense: str) -> tuple[Any, ...] | None:
    """The paper's numbers for ``defense`` in ``table`` ("table1" to "table8") on ``dataset``, or
    None when it published none."""
    return PAPER.get((dataset, table), {}).get(defense)


def paper_sweep(dataset: str, defense: str) -> tuple[Any, ...] | None:
    """(accuracy %, abstained %, median certified) of ``defense`` in the paper's sweep over k on
    ``dataset`` (Table 1 for MNIST, 3 for CIFAR-10, 6 for ImageNet), or None."""
    table = SWEEP_TABLES.get(dataset)
    return None if table is None else paper_value(dataset, table, defense)
