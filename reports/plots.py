"""Records -> matplotlib Figures (Agg). Never saves: the report writer does.

Every figure says the dataset, N and alpha in its title, labels its axes with units (pixels) and
has a legend.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.configs import AblationConfig, DefenseConfig, LeeConfig
from defenses.encodings import Encoding
from defenses.lee import apply_lee_noise, sample_lee_noise
from defenses.masks import sample_keep_masks
from reports.joined import CertifyRun, Pairing, empirical_robust_accuracy

__all__ = ["ablated_samples", "adversarial_examples", "radius_scatter", "robustness_curves",
           "sweep_plot"]


def _settings(runs: Sequence[CertifyRun]) -> str:
    ns = sorted({r.first.n for r in runs})
    alphas = sorted({r.first.alpha for r in runs})
    sources = sorted({r.first.data_source for r in runs})
    return (f"{', '.join(sources)}; N = {', '.join(f'{n:,}' for n in ns)}, "
            f"alpha = {', '.join(f'{a:g}' for a in alphas)}")


def robustness_curves(certifies: Sequence[CertifyRun], pairings: Sequence[Pairing]) -> Figure:
    """Certified accuracy vs rho (solid) and, for attacked defenses, the empirical robust accuracy:
    the share of attacked images whose attack L0 exceeds rho, for the best adversarial found
    (dotted) and for re-check-confirmed adversarials only (dashed)."""
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    found = [r.best_l0 for p in pairings for r in p.attack.records if math.isfinite(r.best_l0)]
    top = min(80, int(max([11, *(r.radius for run in certifies for r in run.records),
                           *found])) + 1)
    rhos = list(range(top + 1))
    colours = plt.get_cmap("tab10")
    for i, run in enumerate(certifies):
        n = len(run.records)
        acc = [100 * sum(r.radius >= rho for r in run.records) / n for rho in rhos]
        ax.step(rhos, acc, where="post", color=colours(i % 10),
                label=f"certified: {run.label}, {n} images")
        for p in pairings:
            if p.certify is not run:
                continue
            what = f"{p.attack.label}, {len(p.attack.records)} images"
            for confirmed, style in ((False, ":"), (True, "--")):
                emp = empirical_robust_accuracy(p.attack, top, confirmed)
                ax.step(rhos, [100 * v for v in emp], where="post", linestyle=style,
                        color=colours(i % 10),
                        label=f"empirical ({'confirmed' if confirmed else 'found'}): {what}")
    ax.set_xlabel("L0 radius rho (pixels)")
    ax.set_ylabel("accuracy at rho (%)")
    ax.set_ylim(0, 101)
    ax.set_xlim(0, top)
    ax.grid(alpha=0.3)
    ax.set_title(f"Certified vs empirical L0 robustness ({_settings(certifies)})", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def radius_scatter(pairings: Sequence[Pairing]) -> Figure:
    """Per image: certified radius (x) vs attack L0 (y), with y = x. A point on or below the line
    is a certificate violation; adversarials not found (inf) sit on the top edge."""
    fig, ax = plt.subplots(figsize=(6, 6), dpi=110)
    colours = plt.get_cmap("tab10")
    finite = [r.best_l0 for p in pairings for r in p.attack.records if math.isfinite(r.best_l0)]
    cap = max([12.0, *finite]) * 1.1
    shown = [(p, p.certify) for p in pairings if p.certify is not None]
    for i, (p, run) in enumerate(shown):
        radius = {r.image: r.radius for r in run.records}
        pts = [(radius[r.image], r.best_l0, r.confirmed) for r in p.attack.records
               if not r.clean_adversarial and radius[r.image] >= 0]
        for confirmed, marker in ((True, "o"), (False, "x")):
            xs = [x for x, _, c in pts if bool(c) is confirmed]
            ys = [min(y, cap) for _, y, c in pts if bool(c) is confirmed]
            if xs:
                ax.scatter(xs, ys, marker=marker, color=colours(i % 10), alpha=0.7,
                           label=f"{p.attack.label}, "
                                 f"{'confirmed' if confirmed else 'not confirmed'} by re-check")
    ax.plot([0, cap], [0, cap], color="grey", linewidth=1, label="y = x (violation on or below)")
    runs = [run for _, run in shown]
    ax.set_xlim(-0.5, max([12, *(r.radius for run in runs for r in run.records)]) + 1)
    ax.set_ylim(0, cap * 1.02)
    ax.set_xlabel("certified L0 radius (pixels)")
    ax.set_ylabel("attack L0 found (pixels; inf drawn at the top)")
    ax.set_title(f"Certificate vs attack per image ({_settings(runs) if runs else 'no runs'})",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def sweep_plot(certifies: Sequence[CertifyRun]) -> Figure | None:
    """Table 1 as a figure: smoothed accuracy and median certified robustness vs k for the
    multichannel ablation runs (paper's certificate); None with fewer than two k values."""
    by_k: dict[int, CertifyRun] = {}
    for run in certifies:
        match = re.fullmatch(r"ablation-k(\d+)", run.first.defense)
        if match and run.first.certificate == "levine-feizi":
            k = int(match.group(1))
            if k not in by_k or len(run.records) > len(by_k[k].records):
                by_k[k] = run
    if len(by_k) < 2:
        return None
    ks = sorted(by_k)
    acc, med = [], []
    for k in ks:
        recs = by_k[k].records
        acc.append(100 * sum(r.prediction == r.label for r in recs) / len(recs))
        med.append(sorted(r.radius for r in recs)[(len(recs) - 1) // 2])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(ks, acc, "o-", color="tab:blue", label="accuracy (PREDICT)")
    ax.set_xlabel("k (retained pixels)")
    ax.set_ylabel("accuracy (%)", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(ks, med, "s--", color="tab:red", label="median certified L0 (-1 = N/A)")
    ax2.set_ylabel("median certified L0 radius (pixels)", color="tab:red")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [str(line.get_label()) for line in lines], fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    ax.set_title(f"Table 1 sweep ({_settings(list(by_k.values()))})", fontsize=10)
    fig.tight_layout()
    return fig


def adversarial_examples(pairing: Pairing, originals: dict[int, np.ndarray],
                         most: int = 4) -> Figure | None:
    """Like the paper's Figure 3: for up to ``most`` attacked images with an adversarial, the
    original, the adversarial and the changed pixel positions. ``originals`` maps image index to
    the clean image (C, H, W) in [0, 1]; None when no image qualifies."""
    shown = [r for r in pairing.attack.records
             if math.isfinite(r.best_l0) and not r.clean_adversarial and r.adversarial
             and r.image in originals][:most]
    if not shown:
        return None
    a = pairing.attack.first
    fig, axes = plt.subplots(3, len(shown), figsize=(2.2 * len(shown), 7), dpi=110,
                             squeeze=False)
    for col, r in enumerate(shown):
        original = originals[r.image]
        adv = np.frombuffer(r.adversarial, np.float32).reshape(r.adversarial_shape)[0]
        changed = (np.abs(adv - original) > 0).any(axis=0)
        verdict = "confirmed" if r.confirmed else "not confirmed"
        panels = ((original[0], f"image {r.image}, label {r.label}"),
                  (adv[0], f"adversarial: L0 {r.best_l0:g}\n({verdict})"),
                  (changed.astype(float), f"changed pixels: {int(changed.sum())}"))
        for row, (picture, title) in enumerate(panels):
            ax = axes[row][col]
            ax.imshow(picture, cmap="gray" if row < 2 else "Reds", vmin=0, vmax=1)
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    policy = f", {a.mask_policy} masks, N = {a.n:,}, alpha = {a.alpha:g}" if a.n else ""
    fig.suptitle(f"{a.data_source}: {a.attack} vs {a.defense} ({a.restarts} restarts{policy})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _noised_views(config: DefenseConfig, x: torch.Tensor, count: int,
                  generator: torch.Generator) -> np.ndarray | None:
    """What the base classifier sees for ``count`` noise draws of x (1, C, H, W), as (count, H, W)
    images of the first channel; NaN marks a NULL (ablated) pixel of the multichannel encoding."""
    _, h, w = config.image_shape
    if isinstance(config, AblationConfig):
        keep = sample_keep_masks(count, h * w, config.k, generator).view(count, h, w)
        views = x[:, 0].expand(count, h, w).clone()
        fill = math.nan if config.encoding is Encoding.MULTICHANNEL else config.fill
        views[~keep] = fill
        return views.numpy()
    if isinstance(config, LeeConfig):
        noise = sample_lee_noise(count, config.image_shape, config.kappa, config.num_values,
                                 generator)
        return apply_lee_noise(x.expand(count, -1, -1, -1), noise, config.num_values)[:, 0].numpy()
    return None


def ablated_samples(configs: Sequence[DefenseConfig], image: np.ndarray, source: str,
                    count: int = 4, seed: int = 0) -> Figure | None:
    """Like the paper's Figure 1: one test image and ``count`` noise draws of each smoothed
    defense (NULL pixels of the multichannel encoding in blue). None without smoothed defenses."""
    x = torch.as_tensor(image, dtype=torch.float32).unsqueeze(0)
    rows = []
    for config in configs:
        views = _noised_views(config, x, count, torch.Generator().manual_seed(seed))
        if views is not None:
            rows.append((config, views))
    if not rows:
        return None
    cmap = plt.get_cmap("gray").with_extremes(bad="tab:blue")
    fig, axes = plt.subplots(len(rows), count + 1, figsize=(1.8 * (count + 1), 2 * len(rows)),
                             dpi=110, squeeze=False)
    for row, (config, views) in enumerate(rows):
        panels = [(image[0], "clean")] + [(v, f"draw {j + 1}") for j, v in enumerate(views)]
        for col, (picture, title) in enumerate(panels):
            ax = axes[row][col]
            ax.imshow(np.ma.masked_invalid(picture), cmap=cmap, vmin=0, vmax=1)
            ax.set_title(title if col else f"{config.name}\n{title}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"{source}: what the base classifier sees (blue = NULL, not a pixel value)",
                 fontsize=10)
    fig.tight_layout()
    return fig
