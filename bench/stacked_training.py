"""Training several defenses' base classifiers together, as one stacked network.

The base classifiers of, say, Table 1's twenty ablation defenses share an architecture and a
recipe and differ only in their noise. Trained one at a time on a GPU, each step of such a small
network is a few dozen tiny kernels, and the GPU mostly waits for the host. Trained together,
their weights are stacked along a new first dimension and one ``torch.vmap``-ed step runs all of
them: the same kernels, each K times larger.

Each model is trained exactly as ``bench.training.train_base_classifier`` would train it alone on
the same device: the same initial weights, the same shuffling, noise from the same per-epoch
streams (the generators are seeded as the single run seeds them, one per model), and an optimizer
whose update is elementwise (SGD, Adam), so that the stacked update is the K single updates. Only
the floating-point summation order of the batched kernels may differ. Resume points are the
single runs' own (one partial checkpoint per model), so either way of training can continue the
other's.

Library code: no printing, no files.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from bench.configs import DefenseConfig, TrainConfig
from bench.data import Dataset
from bench.losses import smoothing_loss
from bench.train_images import TrainingImages, augment, augment_generator
from bench.training import (
    TrainState,
    build_base_classifier,
    ema_decay,
    epoch_streams,
    initial_classifier,
    learning_rate,
    make_optimizer,
    model_inputs,
)

__all__ = ["stack_key", "train_stacked"]


def stack_key(config: DefenseConfig) -> tuple[Any, ...]:
    """Configs with equal keys can be trained together: the same network on the same data."""
    return (config.dataset, config.architecture, config.image_shape, config.num_classes,
            config.input_channels, type(config).__name__,
            getattr(config, "groups", None))  # a partition defense: T submodels


def _stack_optimizer_states(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """K single models' optimizer states as the stacked optimizer's (per-parameter tensors
    stacked along dim 0, scalars such as Adam's step taken from the first)."""
    first = states[0]
    stacked: dict[Any, dict[str, Any]] = {}
    for index, entry in first["state"].items():
        stacked[index] = {}
        for name, value in entry.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                stacked[index][name] = torch.stack([s["state"][index][name] for s in states])
            else:
                stacked[index][name] = value
    return {"state": stacked, "param_groups": copy.deepcopy(first["param_groups"])}


def _slice_optimizer_state(state: dict[str, Any], k: int) -> dict[str, Any]:
    """Model k's optimizer state out of the stacked optimizer's (the inverse of stacking)."""
    sliced: dict[Any, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        sliced[index] = {name: (value[k].clone() if isinstance(value, torch.Tensor)
                                and value.dim() > 0 else value)
                         for name, value in entry.items()}
    return {"state": sliced, "param_groups": copy.deepcopy(state["param_groups"])}


def _to_cpu(tree: Any) -> Any:
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu().clone()
    if isinstance(tree, dict):
        return {key: _to_cpu(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_to_cpu(value) for value in tree]
    return tree


def train_stacked(
    configs: Sequence[DefenseConfig],
    train: TrainConfig,
    data: Dataset,
    *,
    device: torch.device | str = "cpu",
    resume: Sequence[TrainState] | None = None,
    on_step: Callable[[int], None] | None = None,
    on_epoch: Callable[[list[TrainState]], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[tuple[nn.Module, TrainState]]:
    """Train the base classifiers of ``configs`` together (``stack_key`` equal for all).

    Args:
        configs: the defenses; their noise models may differ.
        train: the recipe all of them are trained with.
        data: the training split.
        resume: one state per config, all after the same epoch, or None to start.
        on_step: called with the number of images after each step (each image counts once,
            however many models see it).
        on_epoch: called with the K states after each epoch.
        stop: asked after each epoch; True ends training there.

    Returns:
        Per config, the trained model (eval mode; the moving average when ``train.ema`` > 0)
        and its final state, as ``train_base_classifier`` returns them.
    """
    if not configs:
        raise ValueError("no defenses to train")
    if len({stack_key(c) for c in configs}) != 1:
        raise ValueError("defenses trained together need the same dataset and architecture")
    if resume is not None and (len(resume) != len(configs)
                               or len({s.epoch for s in resume}) != 1):
        raise ValueError("resume needs one state per defense, all after the same epoch")
    where = torch.device(device)
    count = len(configs)
    models = [initial_classifier(c, train).to(where) for c in configs]
    if resume is not None:
        for model, state in zip(models, resume, strict=True):
            model.load_state_dict(state.model)
    params, buffers = torch.func.stack_module_state(models)
    persistent = set(models[0].state_dict())  # buffers a model derives itself are not saved
    template = copy.deepcopy(models[0]).to("meta")

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor],
                x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.func.functional_call(template, (p, b), (x,))
        return out

    batched = torch.vmap(forward)
    optimizer = make_optimizer(list(params.values()), train)
    states = list(resume) if resume is not None else [TrainState(0, {}, {}, [], 0.0)] * count
    if resume is not None:
        optimizer.load_state_dict(_stack_optimizer_states([s.optimizer for s in resume]))
    averaged: dict[str, torch.Tensor] = {}
    if train.ema > 0:
        saved = [s.ema for s in resume] if resume is not None else []
        averaged = {name: (torch.stack([e[name] for e in saved if e is not None]).to(where)
                           if saved and all(e is not None for e in saved)
                           else p.detach().clone())
                    for name, p in params.items()}
    n = len(data)
    steps_per_epoch = -(-n // train.batch_size)
    plain_loss = train.copies == 1 and train.consistency == 0 and train.entropy == 0
    images = TrainingImages(data, where)
    for epoch in range(states[0].epoch, train.epochs):
        started = time.perf_counter()
        if epoch == train.lr_drop and train.lr_drop:
            optimizer = make_optimizer(list(params.values()), train)
        order, noise_gens = epoch_streams(train, epoch, n, where, count)
        augment_gen = augment_generator(train, epoch, where)
        loss_sum = torch.zeros(count, dtype=torch.float64, device=where)
        correct = torch.zeros(count, dtype=torch.long, device=where)
        for i, start in enumerate(range(0, n, train.batch_size)):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(train, epoch, i, steps_per_epoch)
            idx = order[start : start + train.batch_size]
            x, y = images.batch(idx)
            x = augment(x, train.augment, augment_gen)
            if train.copies > 1:
                x = x.repeat(train.copies, 1, 1, 1)
            with torch.autocast(where.type, dtype=torch.bfloat16,
                                enabled=train.precision == "bf16"):
                inputs = torch.stack([model_inputs(c, train, x, g)
                                      for c, g in zip(configs, noise_gens, strict=True)])
                logits = batched(params, buffers, inputs)
            logits = logits.float()  # (K, copies * B, classes), or (K, copies * B, V, classes)
            labels = y.repeat(train.copies)
            votes = logits.shape[2] if logits.dim() == 4 else 1
            if logits.dim() == 4:  # a partition's submodels: each voter's own loss, summed
                logits = logits.flatten(1, 2)
                y, labels = y.repeat_interleave(votes), labels.repeat_interleave(votes)
            if plain_loss:
                losses = functional.cross_entropy(logits.flatten(0, 1), labels.repeat(count),
                                         reduction="none").view(count, -1).mean(dim=1)
            else:
                losses = torch.stack([smoothing_loss(logits[m], y, train.copies,
                                                     train.consistency, train.entropy)
                                      for m in range(count)])
            optimizer.zero_grad(set_to_none=True)
            (losses.sum() * votes).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            if averaged:
                weight = 1.0 - ema_decay(train.ema, epoch * steps_per_epoch + i)
                with torch.no_grad():
                    for name, average in averaged.items():
                        average.lerp_(params[name], weight)
            loss_sum += losses.detach().double() * len(idx)
            correct += (logits.argmax(-1) == labels).sum(dim=1)
            if on_step is not None:
                on_step(len(idx))
        seconds = time.perf_counter() - started
        optimizer_state = _to_cpu(optimizer.state_dict())
        losses_cpu, correct_cpu = loss_sum.cpu().tolist(), correct.cpu().tolist()
        states = [
            TrainState(
                epoch + 1,
                {**{name: p[m].detach().cpu().clone() for name, p in params.items()},
                 **{name: b[m].detach().cpu().clone() for name, b in buffers.items()
                    if name in persistent}},
                _slice_optimizer_state(optimizer_state, m),
                [*states[m].history, {"epoch": epoch + 1, "loss": losses_cpu[m] / n,
                                      "train_sample_accuracy":
                                          correct_cpu[m] / (n * train.copies * votes)}],
                states[m].seconds + seconds,
                {name: a[m].cpu().clone() for name, a in averaged.items()} if averaged
                else None)
            for m in range(count)]
        if on_epoch is not None:
            on_epoch(states)
        if stop is not None and stop():
            break
    out = []
    for config, state in zip(configs, states, strict=True):
        model = build_base_classifier(config)
        model.load_state_dict({**state.model, **(state.ema or {})})
        out.append((model.to(where).eval(), state))
    return out
