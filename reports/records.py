"""The records runs produce and reports read: one per (run, image).

A record keeps its run's identity (``run_hash`` and the identity document ``config``, JSON), the
data it came from and every number a table needs, as numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from defenses.base import L0_PIXELS

__all__ = ["AttackRecord", "CertifyRecord"]


@dataclass(frozen=True)
class CertifyRecord:
    """One certified image. ``radius`` is -1 when the certified class is wrong or CERTIFY abstains
    (the paper's "misclassified"); ``prediction``/``abstained`` are PREDICT on the N estimation
    votes (Cohen et al.'s two-sided test). ``config`` is the run's identity document (JSON) and
    ``run_hash`` its hash; ``threat_model`` says what the radius counts: pixel positions (L0, a
    whole number) or an L2 distance."""

    run_hash: str
    defense: str
    model_id: str
    dataset: str
    data_source: str
    data_fingerprint: str
    image: int
    label: int
    certified_label: int
    radius: float
    p_lower: float
    selection_counts: tuple[int, ...]
    counts: tuple[int, ...]
    prediction: int
    abstained: bool
    pvalue: float
    n0: int
    n: int
    alpha: float
    certificate: str
    seconds: float
    seed: int
    config: str
    threat_model: str = L0_PIXELS

    @property
    def key(self) -> str:
        return f"{self.run_hash}:{self.data_fingerprint}:{self.image}:{self.seed}"

    @property
    def sampled(self) -> bool:
        """Whether the certificate was estimated from sampled votes (N > 0); False for an exact
        one (a partition defense's, N = 0) and a plain classifier's (no votes)."""
        return bool(self.counts) and self.n > 0


@dataclass(frozen=True)
class AttackRecord:
    """One attacked image.

    ``best_l0`` is the smallest L0 (pixel positions) found over the restarts: 0 when the clean
    image is already misclassified or abstained (``clean_adversarial``), +inf when no restart found
    an adversarial. ``confirmed`` is the independent fresh re-check of that best adversarial (None
    when there is none); ``best_confirmed_l0`` is the smallest L0 among confirmed restarts.
    ``restart_l0`` and ``restart_confirmed`` hold every restart. ``adversarial`` is the best
    adversarial as float32 bytes of shape ``adversarial_shape`` (empty when there is none), so it
    can be re-checked later. ``n`` is 0 and ``mask_policy`` "none" for a deterministic defense.
    ``threat_model`` says what the L0 counts (pixel positions). ``found_by`` names the ensemble
    member whose confirmed adversarial has the smallest L0 ("" for an attack of its own, or when
    none was confirmed; ``reports.joined.found_by`` reads both).
    """

    run_hash: str
    defense: str
    attack: str
    model_id: str
    dataset: str
    data_source: str
    data_fingerprint: str
    image: int
    label: int
    clean_prediction: int
    clean_adversarial: bool
    restarts: int
    best_l0: float
    confirmed: bool | None
    best_confirmed_l0: float
    restart_l0: tuple[float, ...]
    restart_confirmed: tuple[bool | None, ...]
    queries: int
    forward_passes: int
    seconds: float
    seed: int
    n: int
    alpha: float
    mask_policy: str
    config: str
    adversarial: bytes
    adversarial_shape: tuple[int, ...]
    threat_model: str = L0_PIXELS
    found_by: str = ""

    @property
    def key(self) -> str:
        return f"{self.run_hash}:{self.data_fingerprint}:{self.image}:{self.seed}"
