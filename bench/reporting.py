"""The one report writer: results database -> tables (markdown and CSV), plots (PNG), the
soundness audit and an index.md linking them. Rerunning it on the same database rewrites the same
bytes. The tables and figures themselves are pure functions of the records (``reports``)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from bench.data import Dataset
from bench.errors import InputError
from bench.registry import resolve_defense
from bench.store import ResultStore
from defenses.base import L0_PIXELS, L2
from reports.baselines import render_pairwise_gain, summarize_pairwise_gain, table7, table8
from reports.certified import certified_rows, certified_table, comparable_runs
from reports.comparison import (
    any_attack_audit,
    attack_groups,
    comparison_table,
    per_image_table,
)
from reports.joined import (
    CertifyRun,
    Pairing,
    attack_runs,
    audit_table,
    auditable,
    certify_runs,
    joined_table,
    pair_runs,
    violations,
)
from reports.l2 import l2_attack_table, l2_rows, l2_table
from reports.plots import (
    adversarial_examples,
    attacks_vs_pointwise,
    certified_curves,
    l2_curves,
    noise_samples,
    radius_scatter,
    robustness_curves,
    sweep_plot,
)
from reports.summary_text import max_rho
from reports.tables import (
    certified_accuracy_table,
    summarize_attack,
    summarize_certify,
    table1,
    table2,
)
from reports.tabular import Table

__all__ = ["write_report"]

log = logging.getLogger(__name__)


def _kind(run: CertifyRun) -> str:
    return str(json.loads(run.first.config)["defense"].get("kind", ""))


def _write_table(out: Path, stem: str, table: Table) -> None:
    (out / f"{stem}.md").write_text(table.markdown() + "\n")
    (out / f"{stem}.csv").write_text(table.csv())


def _write_figure(out: Path, name: str, make: Callable[[], Figure | None]) -> bool:
    fig = make()
    if fig is None:
        return False
    # no version stamp: the same bytes again; "tight" keeps legends placed outside the axes
    fig.savefig(out / name, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return True


def _noise_rows(certifies: list[CertifyRun], image: np.ndarray, dataset: str,
                count: int = 4, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """(defense, ``count`` noise draws of ``image`` as a person sees them, (count, H, W) of the
    first channel) for each certified defense with a noise model, drawn by that model."""
    rows = []
    x = torch.as_tensor(image, dtype=torch.float32).unsqueeze(0)
    for name in sorted({run.first.defense for run in certifies
                        if run.first.dataset == dataset}):
        try:
            config = resolve_defense(name, dataset)
        except InputError:  # a defense not registered here (a plugin not loaded)
            log.info("no noise draws of %s: not registered", name)
            continue
        noise = config.noise_model()
        if noise is None:
            continue
        draws = noise.sample(count, config.image_shape, torch.Generator().manual_seed(seed))
        rows.append((name, noise.display(x, draws)[:, 0].numpy()))
    return rows


def _image_figures(certifies: list[CertifyRun], pairings: list[Pairing],
                   data: Dataset) -> list[tuple[str, str, Callable[[], Figure | None]]]:
    """Figures that need the clean test images: adversarial examples and noise draws."""
    def clean(i: int) -> np.ndarray:
        return np.asarray(data.images[i], dtype=np.float32) / np.float32(255.0)

    figures: list[tuple[str, str, Callable[[], Figure | None]]] = []
    for n, p in enumerate(p for p in pairings if p.attack.first.data_fingerprint ==
                          data.fingerprint):
        originals = {r.image: clean(r.image) for r in p.attack.records}
        a = p.attack.first
        figures.append((f"adversarial-{n}.png", f"Adversarial examples: {a.attack} vs "
                        f"{a.defense} ({a.mask_policy})",
                        functools.partial(adversarial_examples, p, originals)))
    figures.append(("noise.png", "What the base classifier sees",
                    lambda: noise_samples(_noise_rows(certifies, clean(0), data.name), clean(0),
                                          data.source)))
    return figures


def _audit_summary(pairings: list[Pairing], any_rows: list[tuple[str, ...]]) -> str:
    """What the audit could check and what it found (``any_rows``: the any-attack rows)."""
    checked = sum(len(auditable(p)) for p in pairings)
    rule = ("An image whose re-check-confirmed attack L0 is at or below its certified radius is a "
            "certificate violation (expected in at most an alpha fraction of images).")
    if checked == 0:
        return (f"{rule} Nothing was auditable: no attacked image has both a certificate and an "
                "adversarial that an independent re-check confirmed, so no violation could be "
                "found.")
    total = sum(len(violations(p)) for p in pairings)
    text = (f"{rule} Auditable images (a certificate and a confirmed adversarial): {checked}. "
            f"Violations found: **{total}**.")
    if any_rows:  # column 7: violations ("-": nothing auditable)
        found = sum(int(row[7]) for row in any_rows if row[7] != "-")
        text += (" With the smallest confirmed L0 of any attack run on the same defense (the "
                 f"'any of' rows): **{found}**.")
    return text


def write_report(results: Path, out: Path, data: Dataset | None = None) -> list[Path]:
    """Write the report of every run in ``results`` into ``out``; returns the files written.

    ``data`` (the test split) adds the figures that need clean images: adversarial examples of
    the attack runs on that split and noise draws of each smoothed defense.

    Raises:
        FileNotFoundError: when ``results`` does not exist (nothing is created then).
    """
    if not Path(results).exists():
        raise FileNotFoundError(results)
    with ResultStore(results) as store:
        every_certify = certify_runs(store.records())
        every_pairing = pair_runs(attack_runs(store.attack_records()), every_certify)
    # the L0 tables and figures see L0 runs only; L2 runs have their own (never joined)
    certifies = [run for run in every_certify if run.first.threat_model == L0_PIXELS]
    pairings = [p for p in every_pairing if p.attack.first.threat_model == L0_PIXELS]
    out.mkdir(parents=True, exist_ok=True)
    sections: list[str] = [f"# bench report\n\nFrom `{results}`: {len(every_certify)} "
                           f"certification runs, {len(every_pairing)} attack runs.\n"]
    summaries = [summarize_certify(run.records, max_rho(run.records)) for run in certifies]
    tables: list[tuple[str, str, Table]] = []
    if certifies:
        tables.append(("table1", "Table 1: certification runs", table1(summaries)))
        tables.append(("certified_accuracy", "Certified accuracy (%) at L0 radius rho",
                       certified_accuracy_table(summaries)))
    if pairings:
        tables.append(("table2", "Table 2: attack runs, joined with the certificates",
                       table2([summarize_attack(p.attack.records,
                                                p.certify.records if p.certify else ())
                               for p in pairings])))
    lee = [i for i, run in enumerate(certifies) if _kind(run) == "lee"]
    ablation = [i for i, run in enumerate(certifies) if _kind(run) == "ablation"]
    if lee and ablation:
        chosen = lee + ablation
        tables.append(("table7", "Table 7: Lee et al. vs ablation",
                       table7([summaries[i] for i in chosen],
                              [certifies[i].records for i in chosen])))
    if any(certifies[i].first.defense.startswith("ablation-mean-") for i in ablation):
        tables.append(("table8", "Table 8: NULL encodings",
                       table8([summaries[i] for i in ablation])))
    groups = attack_groups(pairings)
    if any(len(g.runs) > 1 for g in groups):
        tables.append(("attacks", "Attacks compared on the same images",
                       comparison_table(groups)))
        tables.append(("attacks_per_image", "Per image: each attack's confirmed L0",
                       per_image_table([g for g in groups if len(g.runs) > 1])))
    comparable = comparable_runs(certifies)
    if comparable:
        rows = [row for runs, images in comparable
                for row in certified_rows(runs, images, pairings)]
        tables.append(("certified", "Certified defenses compared on the same images",
                       certified_table(rows)))
    tables.append(("joined", "Per image: certificate and attack", joined_table(certifies,
                                                                                pairings)))
    l2_certifies = [run for run in every_certify if run.first.threat_model == L2]
    l2_pairings = [p for p in every_pairing if p.attack.first.threat_model == L2]
    if l2_certifies:
        tables.append(("l2_certified", "L2 threat model: certified accuracy at L2 radius r "
                       "(Gaussian smoothing), with the L2 attacks on the same images",
                       l2_table(l2_rows(l2_certifies, l2_pairings))))
    if l2_pairings:
        tables.append(("l2_attacks", "L2 threat model: attack runs", l2_attack_table(
            l2_pairings)))
    written: list[Path] = []
    for stem, title, table in tables:
        _write_table(out, stem, table)
        written += [out / f"{stem}.md", out / f"{stem}.csv"]
        shown = table.markdown() if stem not in ("joined", "attacks_per_image") else (
            f"{len(table.rows)} rows: [{stem}.csv]({stem}.csv)")
        sections.append(f"## {title}\n\n{shown}\n\n[markdown]({stem}.md) · [CSV]({stem}.csv)\n")
    pairwise_gains = []
    for i in ablation:
        if certifies[i].first.certificate != "levine-feizi":
            continue
        try:
            pairwise_gains.append(summarize_pairwise_gain(certifies[i].records))
        except ValueError:  # records without usable vote counts: no pairwise row
            continue
    if pairwise_gains:
        gains = render_pairwise_gain(pairwise_gains)
        (out / "pairwise.md").write_text(gains + "\n")
        written.append(out / "pairwise.md")
        sections.append("## The pairwise certificate from the same votes\n\n"
                        "Each ablation run certified with the paper's certificate, and the "
                        "pairwise one (docs/protocol.md) recomputed from its stored votes.\n\n"
                        f"{gains}\n\n[markdown](pairwise.md)\n")
    audit = audit_table(pairings)
    any_rows = any_attack_audit(groups)
    audit = Table(audit.columns, audit.rows + tuple(any_rows), audit.align)
    _write_table(out, "audit", audit)
    written += [out / "audit.md", out / "audit.csv"]
    sections.append(f"## Soundness audit\n\n{_audit_summary(pairings, any_rows)}\n\n"
                    f"{audit.markdown()}\n")
    figures = [("robustness.png", "Certified vs empirical robust accuracy",
                lambda: robustness_curves(certifies, pairings) if certifies else None),
               ("certified.png", "Certified defenses on the same images",
                lambda: certified_curves(comparable)),
               ("scatter.png", "Certificate vs attack, per image",
                lambda: radius_scatter(pairings) if any(p.certify for p in pairings) else None),
               ("sweep.png", "Table 1 sweep", lambda: sweep_plot(certifies)),
               ("attacks.png", "Each attack against Pointwise, per image",
                lambda: attacks_vs_pointwise(groups)),
               ("l2.png", "L2 threat model: certified and empirical accuracy",
                lambda: l2_curves(l2_certifies, l2_pairings))]
    if data is not None:
        figures += _image_figures(every_certify, pairings, data)
    for name, title, make in figures:
        if _write_figure(out, name, make):
            written.append(out / name)
            sections.append(f"## {title}\n\n![{title}]({name})\n")
    (out / "index.md").write_text("\n".join(sections))
    return [*written, out / "index.md"]
