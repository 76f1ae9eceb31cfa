"""The attack suite on the undefended CNN, run for real (slow: about 10 minutes on 2 cores).

    python -m pytest -m slow tests/test_attacks_slow.py

Uses ./models (the checkpoint of tests/test_table2_slow.py and benchmarks/table2_cnn.sh) and
./results/attacks-slow.sqlite (git-ignored), so a rerun reuses the records already stored.
docs/attacks.md has the same on 200 images.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

import bench
from reports.tables import summarize_attack

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_ensemble_beats_pointwise_on_every_image_of_the_cnn() -> None:
    if not os.environ.get("BENCH_DATA_ROOT"):
        pytest.skip("needs full MNIST: set BENCH_DATA_ROOT")
    models, results = ROOT / "models", ROOT / "results" / "attacks-slow.sqlite"
    data = bench.load_dataset("mnist")
    bench.train("cnn", data, models=models)
    defense = bench.load_defense("cnn", models=models)
    images = range(20)
    pointwise = bench.attack(defense, "pointwise", data.test, images, restarts=10, store=results)
    ensemble = bench.attack(defense, "ensemble", data.test, images, store=results)
    for p, e in zip(pointwise, ensemble, strict=True):
        assert e.image == p.image and e.confirmed is not False
        assert e.best_confirmed_l0 <= p.best_confirmed_l0, e.image
        assert e.clean_adversarial or e.found_by in bench.EnsembleConfig().names
    gap = summarize_attack(pointwise).median_l0 - summarize_attack(ensemble).median_l0
    assert math.isfinite(gap) and gap >= 2  # 9 against 6 on 200 images
