"""Records -> matplotlib Figures (Agg). Never saves: the report writer does.

Every figure says the dataset, N and alpha in its title, labels its axes with units (pixels) and
has a legend, placed below the axes so it never covers data (the writer saves with a tight
bounding box).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reports.comparison import AttackGroup, reference_run, run_name
from reports.joined import CertifyRun, Pairing, empirical_robust_accuracy
from reports.l2 import certified_l2

__all__ = ["adversarial_examples", "attacks_vs_pointwise", "certified_curves", "l2_curves",
           "noise_samples", "radius_scatter", "robustness_curves", "sweep_plot"]


def _legend_below(ax: Axes, columns: int = 1) -> None:
    """The legend under the axes, outside the data."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=columns,
              frameon=False)


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
    # each attack run in a colour of its own, after the certify runs'
    for j, p in enumerate(p for p in pairings if p.certify is not None):
        what = f"{p.attack.label}, {len(p.attack.records)} images"
        colour = colours((len(certifies) + j) % 10)
        # the confirmed curve is drawn above the found one, thicker, so it shows where the two
        # coincide
        for confirmed, style, width in ((False, ":", 1.2), (True, "--", 2.0)):
            emp = empirical_robust_accuracy(p.attack, top, confirmed)
            ax.step(rhos, [100 * v for v in emp], where="post", linestyle=style,
                    linewidth=width, color=colour, zorder=3 if confirmed else 2,
                    label=f"empirical ({'confirmed' if confirmed else 'found'}): {what}")
    ax.set_xlabel("L0 radius rho (pixels)")
    ax.set_ylabel("accuracy at rho (%)")
    ax.set_ylim(-3, 103)  # a curve at 0% or 100% stays clear of the frame
    ax.set_xlim(0, top)
    ax.grid(alpha=0.3)
    ax.set_title(f"Certified vs empirical L0 robustness ({_settings(certifies)})", fontsize=10)
    _legend_below(ax)
    return fig


def certified_curves(groups: Sequence[tuple[Sequence[CertifyRun], Sequence[int]]]
                     ) -> Figure | None:
    """Certified accuracy vs rho of every certified defense, each on the images all runs of its
    test set certified (``reports.certified.comparable_runs``), sampled certificates solid and
    exact ones dashed."""
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    top = max(11, *(int(r.radius) for runs, _ in groups for run in runs for r in run.records)) + 1
    rhos = list(range(top + 1))
    colours = plt.get_cmap("tab10")
    i = 0
    for runs, images in groups:
        wanted = set(images)
        for run in runs:
            radii = [r.radius for r in run.records if r.image in wanted]
            exact = not run.first.sampled
            acc = [100 * sum(v >= rho for v in radii) / len(radii) for rho in rhos]
            ax.step(rhos, acc, where="post", color=colours(i % 10),
                    linestyle="--" if exact else "-",
                    label=f"{run.label}, {len(radii)} images"
                          f"{' (exact)' if exact else ''}")
            i += 1
    ax.set_xlabel("L0 radius rho (pixels)")
    ax.set_ylabel("certified accuracy at rho (%)")
    ax.set_ylim(-3, 103)
    ax.set_xlim(0, top)
    ax.grid(alpha=0.3)
    ax.set_title("Certified L0 robustness on the same images (dashed: exact certificates)",
                 fontsize=10)
    _legend_below(ax)
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
    _legend_below(ax)
    return fig


def sweep_plot(certifies: Sequence[CertifyRun]) -> Figure | None:
    """Table 1 as a figure: smoothed accuracy and median certified robustness vs k for the
    multichannel ablation runs (paper's certificate); None with fewer than two k values."""
    by_k: dict[int, CertifyRun] = {}
    for run in certifies:
        config = json.loads(run.first.config).get("defense", {})
        if (config.get("kind") == "ablation" and config.get("encoding") == "multichannel"
                and run.first.certificate == "levine-feizi"):
            k = int(config["k"])
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


def noise_samples(rows: Sequence[tuple[str, np.ndarray]], image: np.ndarray,
                  source: str) -> Figure | None:
    """Like the paper's Figure 1: one test image and, for each smoothed defense, its noise draws
    as the base classifier sees them.

    Args:
        rows: (defense name, draws (count, H, W) of the first channel; NaN marks a pixel that
            carries no value, drawn in blue).
        image: the clean image (C, H, W) in [0, 1].
        source: the data's source, for the title.

    Returns:
        The figure, or None without rows.
    """
    if not rows:
        return None
    count = max(len(views) for _, views in rows)
    cmap = plt.get_cmap("gray").with_extremes(bad="tab:blue")
    fig, axes = plt.subplots(len(rows), count + 1, figsize=(1.8 * (count + 1), 2 * len(rows)),
                             dpi=110, squeeze=False)
    for row, (name, views) in enumerate(rows):
        panels = [(image[0], "clean")] + [(v, f"draw {j + 1}") for j, v in enumerate(views)]
        for col in range(count + 1):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(panels):
                ax.set_axis_off()
                continue
            picture, title = panels[col]
            ax.imshow(np.ma.masked_invalid(picture), cmap=cmap, vmin=0, vmax=1)
            ax.set_title(title if col else f"{name}\n{title}", fontsize=8)
    fig.suptitle(f"{source}: what the base classifier sees (blue = NULL, not a pixel value)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def attacks_vs_pointwise(groups: Sequence[AttackGroup]) -> Figure | None:
    """Per image, each attack's confirmed L0 against the Pointwise run's on the same defense (one
    panel per defense that has a Pointwise run and another run): points below the diagonal are
    images where the attack needed fewer pixels. No confirmed adversarial is drawn at the top
    edge ("none"). L0s are whole numbers, so each attack's points are shifted by a small offset
    of its own along the diagonal, which keeps them apart."""
    panels = [(g, ref) for g in groups for ref in (reference_run(g),)
              if ref is not None and len(g.runs) > 1 and g.images]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5.2), dpi=110,
                             squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (group, reference) in zip(axes[0], panels, strict=True):
        images = group.images
        ref = group.by_image(reference)
        finite = [r.best_confirmed_l0 for run in group.runs for r in run.records
                  if math.isfinite(r.best_confirmed_l0)]
        top = max([10.0, *finite]) * 1.1 + 1
        x = [min(ref[i].best_confirmed_l0, top) for i in images]
        others = [run for run in group.runs if run is not reference]
        for j, run in enumerate(others):
            records = group.by_image(run)
            shift = 0.5 * (j - (len(others) - 1) / 2) / max(1, len(others))
            y = [min(records[i].best_confirmed_l0, top) + shift for i in images]
            ax.scatter([v + shift for v in x], y, s=10, alpha=0.7, color=colours(j % 10),
                       label=run_name(run))
        ax.plot([0, top], [0, top], color="grey", linewidth=0.8, linestyle="--",
                label="equal L0")
        ax.axhline(top, color="lightgrey", linewidth=0.6)
        ax.set_xlim(0, top * 1.03)
        ax.set_ylim(0, top * 1.03)
        ax.set_xlabel(f"{run_name(reference)}: confirmed L0 (pixels)")
        ax.set_ylabel("attack: confirmed L0 (pixels; top edge: none)")
        ax.set_title(f"{group.defense}\n{len(images)} images, {run_name(reference)} vs the "
                     "other attacks", fontsize=9)
        _legend_below(ax, columns=3)
    return fig


def l2_curves(certifies: Sequence[CertifyRun], pairings: Sequence[Pairing]) -> Figure | None:
    """Certified accuracy (solid) and accuracy under each confirmed L2 attack on the same defense
    (dashed: the share of images whose confirmed adversarial is farther than r, or that none was
    found for) against the L2 radius r, of L2 runs (``certifies``) and the attack runs joined
    with them; None when there is no certification run."""
    runs = list(certifies)
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    attacks = [p for p in pairings if p.certify in runs]
    sizes = [r.best_confirmed_l0 for p in attacks for r in p.attack.records
             if math.isfinite(r.best_confirmed_l0)]
    top = min(10.0, max([2.0, *(r.radius for run in runs for r in run.records), *sizes]))
    grid = [top * i / 400 for i in range(401)]
    colours = plt.get_cmap("tab10")
    i = 0
    for run in runs:
        n = len(run.records)
        ax.plot(grid, [100 * sum(certified_l2(r, g) for r in run.records) / n for g in grid],
                color=colours(i % 10), label=f"certified: {run.label}")
        i += 1
        for p in attacks:
            if p.certify is not run:
                continue
            attacked = p.attack.records
            ax.plot(grid, [100 * sum(not r.clean_adversarial and r.best_confirmed_l0 > g
                                     for r in attacked) / len(attacked) for g in grid],
                    linestyle="--", color=colours(i % 10),
                    label=f"under {p.attack.first.attack} ({len(attacked)} images)")
            i += 1
    ax.set_xlabel("L2 radius r (pixel values in [0, 1])")
    ax.set_ylabel("accuracy at r (%)")
    ax.set_ylim(0, 101)
    ax.set_xlim(0, top)
    ax.grid(alpha=0.3)
    _legend_below(ax)
    return fig
