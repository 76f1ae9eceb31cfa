"""A smoothed classifier: votes of a base classifier over random noise, PREDICT and CERTIFY.

A smoothed classifier returns the class its base classifier votes most often over random noised
copies of the input (Cohen et al. 2019's CERTIFY and PREDICT, docs/protocol.md). A noise model
says how noise is drawn and applied (ablation masks, Lee et al.'s random values) and a certificate
rule turns the estimation votes into a radius; the statistics come from ``defenses.stats``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from defenses.base import ABSTAIN, L0_PIXELS, Certificate, CertificateRule, NoiseModel, Prediction
from defenses.oracles import EarlyStop, FixedOracle, FreshOracle, Oracle, Queries
from defenses.precision import PRECISIONS, InferenceModel, Precision
from defenses.stats import predict_from_counts
from defenses.surrogate import ExpectedSoftmax

__all__ = ["SmoothedClassifier"]


class SmoothedClassifier:
    """A smoothed defense (the Defense protocol): a noise model, a certificate rule and a base
    classifier.

    Args:
        model: base classifier, noised inputs -> (B, num_classes) logits.
        noise: the noise model (``defenses.base.NoiseModel``).
        rule: the certificate rule (``defenses.base.CertificateRule``).
        n0: CERTIFY's selection samples. n: CERTIFY's estimation samples and PREDICT's samples.
        alpha: failure probability (one-sided bound in CERTIFY, two-sided test in PREDICT).
        abstain: Cohen-style CERTIFY (abstain when nothing is certified) instead of the
            paper's (radius 0 there).
        num_classes: number of classes.
        batch_size: base-classifier forward batch (speed only: logits do not depend on it).
        precision: the base classifier's arithmetic, "fp32", "bf16" or "int8"
            (``defenses.precision``).
        calibration: clean images (B, C, H, W) in [0, 1] whose noised copies (one draw each,
            from a fixed seed) calibrate int8's activation ranges: training images, never test
            images. Required for int8, ignored otherwise.
        device: where the base classifier runs. Noise is drawn where the generators are: CPU
            generators give the same draws on every machine; generators on ``device`` keep the
            noise there (``CertifyConfig.rng``).
        generator: the stream used when a call gets no per-image generators.
        name: the registry name.

    Noise for one image is a tensor whose first dimension indexes the samples (``sample_noise``);
    ``reads`` says which pixel positions each sample's noised input depends on, which lets an
    attack oracle re-evaluate only the samples a changed pixel can affect.
    """

    threat_model: str = L0_PIXELS

    def __init__(
        self,
        model: nn.Module,
        noise: NoiseModel,
        rule: CertificateRule,
        *,
        n0: int = 1000,
        n: int = 10000,
        alpha: float = 0.05,
        abstain: bool = False,
        num_classes: int = 10,
        batch_size: int = 1024,
        precision: Precision = "fp32",
        calibration: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
        name: str = "",
    ) -> None:
        if n0 < 1 or n < 1:
            raise ValueError(f"n0 and n must be >= 1, got n0={n0}, n={n}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; one of {PRECISIONS}")
        if precision == "int8" and calibration is None:
            raise ValueError("int8 needs calibration images (training images)")
        self.model = model.eval()
        self.noise, self.rule = noise, rule
        self.precision, self.calibration = precision, calibration
        self._infer: InferenceModel | None = None
        self.n0, self.n, self.alpha, self.abstain = n0, n, alpha, abstain
        self.num_classes, self.batch_size = num_classes, batch_size
        self.device = torch.device(device)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.name = name
        self.forward_passes = 0

    # --- the noise model and the certificate rule ---------------------------------------------

    @property
    def samples(self) -> int:
        """N: PREDICT's votes and an attack query's."""
        return self.n

    @property
    def certificate_name(self) -> str:
        return self.rule.name

    def sample_noise(self, num: int, shape: tuple[int, int, int],
                     generator: torch.Generator) -> torch.Tensor:
        """``num`` independent noise draws for one image of shape (C, H, W), first dim = samples."""
        return self.noise.sample(num, shape, generator)

    def apply_noise(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The base classifier's inputs: images (M, C, H, W) noised by ``noise`` (M, ...)."""
        return self.noise.apply(x, noise)

    def reads(self, noise: torch.Tensor) -> torch.Tensor:
        """Bool (M, H * W): the pixel positions whose values sample m's noised input depends on."""
        return self.noise.reads(noise)

    def bound_and_radius(self, counts: list[int], label: int,
                         shape: tuple[int, int, int]) -> tuple[float, float]:
        """(p_lower, radius in the threat model's units) from the N estimation votes for the
        selected ``label``; radius -1 when nothing is certified. ``shape`` is the image's
        (C, H, W)."""
        return self.rule.bound_and_radius(counts, label, self.n, self.alpha, shape)

    def noised_copies(self, images: torch.Tensor, per_image: int,
                      generator: torch.Generator) -> torch.Tensor:
        """Base-classifier inputs: ``per_image`` noise draws of each of ``images`` (B, C, H, W),
        image by image from ``generator``, in order."""
        shape = (images.shape[1], images.shape[2], images.shape[3])
        noise = torch.cat([self.sample_noise(per_image, shape, generator)
                           for _ in range(len(images))])
        return self.apply_noise(images.float().repeat_interleave(per_image, dim=0), noise)

    def calibration_inputs(self, images: torch.Tensor | None = None) -> torch.Tensor | None:
        """One noise draw (seed 0) of each calibration image (``images``, by default the
        defense's own): what int8 is calibrated on. None when there are no images."""
        images = self.calibration if images is None else images
        if images is None:
            return None
        return self.noised_copies(images, 1, torch.Generator().manual_seed(0))

    @property
    def infer(self) -> InferenceModel:
        """The base classifier in its precision (built on first use: int8 calibration draws
        noise through the subclass)."""
        if self._infer is None:
            calibration = self.calibration_inputs() if self.precision == "int8" else None
            self._infer = InferenceModel(self.model, self.precision, calibration=calibration,
                                         device=self.device)
        return self._infer

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
        if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise ValueError("x must be finite with values in [0, 1]")

    # --- shared machinery ----------------------------------------------------------------------

    def _generators(
        self, batch: int, generators: Sequence[torch.Generator] | None
    ) -> Sequence[torch.Generator]:
        if generators is None:
            return [self.generator] * batch
        if len(generators) != batch:
            raise ValueError(f"got {len(generators)} generators for {batch} images")
        return generators

    @torch.inference_mode()
    def vote_counts(
        self, x: torch.Tensor, num: int, generators: Sequence[torch.Generator] | None = None
    ) -> torch.Tensor:
        """Hard-vote counts of the base classifier over ``num`` independent noise draws per image.

        Args:
            x: images (B, C, H, W) in [0, 1].
            num: noise draws per image.
            generators: one generator per image, on the CPU or the defense's device (image i's
                noise comes from generators[i] only, so counts do not depend on the batch), or
                None for the defense's own.

        Returns:
            int64 tensor (B, num_classes) on the CPU; each row sums to ``num``.
        """
        self._check_input(x)
        gens = self._generators(x.shape[0], generators)
        shape = (x.shape[1], x.shape[2], x.shape[3])
        noise = torch.cat([self.sample_noise(num, shape, g) for g in gens])
        owner = torch.arange(x.shape[0]).repeat_interleave(num)
        votes = self._votes(x, owner, noise)
        counts = torch.zeros(x.shape[0], self.num_classes, dtype=torch.long)
        counts.index_put_((owner, votes), torch.ones_like(votes), accumulate=True)
        return counts

    def _votes(self, x: torch.Tensor, owner: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Base-classifier votes (M,): image ``x[owner[m]]`` noised by ``noise[m]``."""
        # votes stay on the device until the end: one host round trip per call, not per batch
        x_dev = x.to(self.device, torch.float32)
        owner_dev = owner.to(self.device)
        votes = torch.empty(len(owner), dtype=torch.long, device=self.device)
        for start in range(0, len(owner), self.batch_size):
            rows = owner_dev[start : start + self.batch_size]
            inputs = self.apply_noise(x_dev[rows],
                                      noise[start : start + self.batch_size].to(self.device))
            votes[start : start + len(rows)] = self.infer(inputs).argmax(dim=1)
        self.forward_passes += len(owner)
        return votes.cpu()

    @torch.inference_mode()
    def noise_votes(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The base classifier's vote under each given noise draw of one image.

        Args:
            x: one image (1, C, H, W) in [0, 1].
            noise: M noise draws for it (``sample_noise``).

        Returns:
            int64 tensor (M,) on the CPU: the class voted under noise[m].
        """
        self._check_input(x)
        if x.shape[0] != 1:
            raise ValueError(f"need one image, got {tuple(x.shape)}")
        return self._votes(x, torch.zeros(len(noise), dtype=torch.long), noise)

    def predict(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Prediction]:
        """PREDICT (Cohen et al.): the top class of N votes, or ABSTAIN if the two-sided binomial
        test of the top two counts does not reject p = 1/2 at alpha."""
        out = []
        for row in self.vote_counts(x, self.n, generators).tolist():
            label, pvalue = predict_from_counts(row, self.alpha)
            out.append(Prediction(label, tuple(row), pvalue))
        return out

    def certify(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Certificate]:
        """CERTIFY: select the class from N0 votes, bound its probability from N fresh votes, and
        turn the bound into a radius (``bound_and_radius``).

        With ``abstain=False`` (the paper) an uncertified image gets the selected class with
        radius 0; with ``abstain=True`` it gets ABSTAIN. Selection draws precede estimation draws
        in each image's generator, so the two sets of samples are independent.
        """
        shape = (x.shape[1], x.shape[2], x.shape[3])
        selection = self.vote_counts(x, self.n0, generators).tolist()
        estimation = self.vote_counts(x, self.n, generators).tolist()
        out = []
        for sel, est in zip(selection, estimation, strict=True):
            label = max(range(len(sel)), key=lambda c: (sel[c], -c))
            p_lower, radius = self.bound_and_radius(est, label, shape)
            if radius < 0:
                label, radius = (ABSTAIN if self.abstain else label), 0
            out.append(Certificate(label, radius, p_lower, tuple(sel), tuple(est),
                                   self.certificate_name))
        return out

    def oracle(self, shape: tuple[int, int, int], label: int, generator: torch.Generator,
               queries: Queries) -> Oracle:
        """Vote counts over N noise draws per query (``queries.samples`` when set): fresh draws
        from ``generator`` on every query, or one fixed set drawn from it now
        (``queries.policy``), stopping early once the attack's decision for ``label`` is
        settled."""
        stop = EarlyStop(label, self.alpha) if queries.early_stop else None
        n = queries.samples or self.n
        if queries.policy == "fresh":
            return FreshOracle(self, n, generator, stop)
        return FixedOracle(self, self.sample_noise(n, shape, generator), stop=stop,
                           start_samples=queries.stand_in)

    def surrogate(self, shape: tuple[int, int, int], generator: torch.Generator,
                  draws: int) -> nn.Module:
        """A differentiable stand-in for gradient attacks: the log of the base classifier's mean
        softmax over ``draws`` fixed noise draws from ``generator`` (expectation over
        transformation), in fp32 (``defenses.surrogate``)."""
        return ExpectedSoftmax(self.model, self.noise, self.sample_noise(draws, shape, generator),
                               self.device, self)
