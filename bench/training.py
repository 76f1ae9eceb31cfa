"""Training the base classifier of a defense on inputs from its noise model (ablations, Lee et
al.'s noise, or plain images for an undefended classifier).

Library code: no printing, no files. ``train_base_classifier`` reports progress through callbacks;
``bench.model_store`` turns them into per-epoch resume points and the CLI into a progress bar.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.configs import DefenseConfig, TrainConfig
from bench.data import Dataset
from bench.losses import smoothing_loss, split_votes
from bench.registry import build_architecture
from bench.seeding import derive_seed
from bench.train_images import TrainingImages, augment, augment_generator, to_float

__all__ = [
    "TrainState",
    "build_base_classifier",
    "ema_decay",
    "epoch_streams",
    "evaluate_sample_accuracy",
    "initial_classifier",
    "learning_rate",
    "make_optimizer",
    "model_inputs",
    "train_base_classifier",
]


@dataclass
class TrainState:
    """Everything needed to resume after an epoch: weights, optimizer, schedule, metrics."""

    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    history: list[dict[str, float]]
    seconds: float
    # the moving average of the weights (``TrainConfig.ema`` > 0), else None
    ema: dict[str, torch.Tensor] | None = None


def build_base_classifier(config: DefenseConfig) -> nn.Module:
    """The untrained base classifier for a defense config (``DefenseConfig.base_classifier``:
    its registered architecture, or what the config builds from it)."""
    return config.base_classifier(build_architecture)


def _kaiming_init(model: nn.Module) -> None:
    """He-normal weights (fan-in, ReLU gain) and zero biases for every conv and linear layer."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def make_optimizer(params: Iterable[torch.Tensor], train: TrainConfig) -> torch.optim.Optimizer:
    """The recipe's optimizer over ``params`` (its update is elementwise: stacked models train
    as they would alone, ``bench.stacked_training``)."""
    if train.optimizer == "adam":
        # fused: one kernel for all parameters, ~4x cheaper per step on CPU than foreach
        return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay,
                                fused=True)
    return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum,
                           nesterov=train.nesterov, weight_decay=train.weight_decay)


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def learning_rate(train: TrainConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimizer step ``step`` of epoch ``epoch`` (both 0-based): warmup
    then cosine decay to 0, constant (a tenth of it from epoch ``lr_drop`` on), or divided by 10
    at each of ``lr_steps``."""
    if train.schedule == "constant":
        return train.lr / 10 if train.lr_drop and epoch >= train.lr_drop else train.lr
    if train.schedule == "step":
        return train.lr * 0.1 ** sum(epoch >= e for e in train.lr_steps)
    total, warmup = train.epochs * steps_per_epoch, train.warmup_epochs * steps_per_epoch
    return train.lr * _lr_factor(epoch * steps_per_epoch + step, warmup, total)


def epoch_streams(train: TrainConfig, epoch: int, n: int, where: torch.device,
                  count: int = 1) -> tuple[torch.Tensor, list[torch.Generator]]:
    """Epoch ``epoch``'s shuffling of ``n`` images (on ``where``) and the generators that draw
    its noise, one per model trained (``count``; ``bench.stacked_training``), each the stream a
    single run draws from: on the CPU the shuffling's own generator after the shuffle, elsewhere
    a generator of that device."""
    seed = derive_seed(train.seed, epoch, "train-epoch")
    gens = [torch.Generator().manual_seed(seed) for _ in range(count)]
    order = torch.randperm(n, generator=gens[0])
    if where.type != "cpu":
        noise_seed = derive_seed(train.seed, epoch, "train-noise")
        return order.to(where), [torch.Generator(device=where).manual_seed(noise_seed)
                                 for _ in range(count)]
    for twin in gens[1:]:
        torch.randperm(n, generator=twin)  # advanced as the first one is
    return order, gens


def ema_decay(decay: float, step: int) -> float:
    """The averaging weight of the old average after optimizer step ``step`` (0-based):
    ``decay``, but at most (1 + step) / (10 + step), so that the first steps' weights, far from
    the trained ones, leave the average quickly (TensorFlow's ExponentialMovingAverage)."""
    return min(decay, (1.0 + step) / (10.0 + step))


def initial_classifier(config: DefenseConfig, train: TrainConfig) -> nn.Module:
    """The base classifier before its first step: ``train.init``'s weights, seeded by
    ``train.seed``."""
    torch.manual_seed(derive_seed(train.seed, 0, "init"))
    model = build_base_classifier(config)
    if train.init == "kaiming":
        _kaiming_init(model)
    return model


def model_inputs(config: DefenseConfig, train: TrainConfig, x: torch.Tensor,
                 gen: torch.Generator) -> torch.Tensor:
    """What the base classifier sees in training: images x (B, C, H, W) under draws of the
    defense's noise model from ``gen`` (one per image, or with ``train.mask_sharing`` "per-batch"
    one shared by the minibatch), or the plain images when it has none. ``gen`` may be on the
    CPU or on x's device."""
    noise_model = config.noise_model()
    if noise_model is None:
        return x
    rows = len(x) if train.mask_sharing == "per-sample" else 1
    noise = noise_model.sample(rows, config.image_shape, gen)
    if rows != len(x):
        noise = noise.expand(len(x), *noise.shape[1:])
    return noise_model.apply(x, noise.to(x.device))


@torch.inference_mode()
def evaluate_sample_accuracy(model: nn.Module, config: DefenseConfig, data: Dataset,
                             seed: int, batch_size: int = 1000,
                             device: torch.device | str = "cpu") -> float:
    """Base-classifier accuracy on single ablations (one independent mask per image); plain test
    accuracy for an undefended classifier; the mean accuracy of the votes for one that votes
    several times per image (a partition defense's submodels)."""
    model.eval()
    gen = torch.Generator().manual_seed(derive_seed(seed, 0, "eval-masks"))
    y_all = torch.as_tensor(data.labels)
    correct = seen = 0
    for start in range(0, len(data), batch_size):
        x = to_float(data.images[start : start + batch_size])
        inputs = model_inputs(config, TrainConfig(mask_sharing="per-sample"), x.to(device), gen)
        flat, labels, _ = split_votes(model(inputs).cpu(), y_all[start : start + batch_size])
        correct += int((flat.argmax(1) == labels).sum())
        seen += len(labels)
    return correct / max(1, seen)


def train_base_classifier(
    config: DefenseConfig,
    train: TrainConfig,
    data: Dataset,
    *,
    device: torch.device | str = "cpu",
    resume: TrainState | None = None,
    on_step: Callable[[int], None] | None = None,
    on_epoch: Callable[[TrainState], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> tuple[nn.Module, TrainState]:
    """Train the base classifier on noised (or, undefended, plain) images (``train.schedule``).

    Each epoch's shuffling and masks come from generators seeded by (train.seed, epoch), so a run
    resumed after epoch e continues exactly as an uninterrupted one. On the CPU one CPU generator
    draws both; on another device (CUDA) the training set is moved there once and the noise is
    drawn there from a generator of that device, so a step needs no host round trip (loss and
    accuracy are read once per epoch).

    Args:
        config: the defense (its noise model and architecture).
        train: the recipe.
        data: the training split.
        resume: state saved after an earlier epoch, or None to start.
        on_step: called with the number of images after each step (progress).
        on_epoch: called with the state after each epoch (checkpointing, logging).
        stop: asked after each epoch; True ends training there (the state says how many
            epochs ran; a later call resumes from it).

    Returns:
        The trained model (eval mode; its weights are the moving average when ``train.ema`` > 0)
        and the final state (``state.model``: the last step's weights).
    """
    model = initial_classifier(config, train)
    # channels_last: oneDNN's faster convolution kernels (fp32 steps 11% faster than NCHW, 24
    # epochs in 16.6 instead of 17.5 min on a 2-core AVX2 CPU, docs/reproduction.md)
    model = model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = make_optimizer(model.parameters(), train)
    n = len(data)
    steps_per_epoch = math.ceil(n / train.batch_size)
    state = TrainState(0, {}, {}, [], 0.0)
    if resume is not None:
        model.load_state_dict(resume.model)
        optimizer.load_state_dict(resume.optimizer)
        state = resume
    params = dict(model.named_parameters())
    averaged: dict[str, torch.Tensor] = {}
    if train.ema > 0:
        source = state.ema if state.ema is not None else params
        averaged = {name: source[name].detach().to(device).clone() for name in params}
    where = torch.device(device)
    images = TrainingImages(data, where)
    for epoch in range(state.epoch, train.epochs):
        started = time.perf_counter()
        if epoch == train.lr_drop and train.lr_drop:  # the paper's second run: a new optimizer
            optimizer = make_optimizer(model.parameters(), train)
        order, (noise_gen,) = epoch_streams(train, epoch, n, where)
        augment_gen = augment_generator(train, epoch, where)
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=where)
        correct = torch.zeros((), dtype=torch.long, device=where)
        seen = 0
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
                inputs = model_inputs(config, train, x, noise_gen)
                logits = model(inputs.contiguous(memory_format=torch.channels_last))
            logits = logits.float()
            # several votes per input (a partition's submodels): each voter's own mean loss,
            # summed, so each is trained as it would be alone
            flat, labels, votes = split_votes(logits, y)
            loss = smoothing_loss(flat, labels, train.copies, train.consistency, train.entropy)
            optimizer.zero_grad(set_to_none=True)
            (loss * votes).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            if averaged:
                weight = 1.0 - ema_decay(train.ema, epoch * steps_per_epoch + i)
                with torch.no_grad():
                    for name, average in averaged.items():
                        average.lerp_(params[name], weight)
            loss_sum += loss.detach().double() * len(idx)
            correct += (flat.argmax(1) == labels.repeat(train.copies)).sum()
            seen += len(labels) * train.copies
            if on_step is not None:
                on_step(len(idx))
        history = [*state.history, {"epoch": epoch + 1, "loss": float(loss_sum) / n,
                                    "train_sample_accuracy": int(correct) / seen}]
        ema = {name: a.cpu().clone() for name, a in averaged.items()} if averaged else None
        state = TrainState(epoch + 1, {k: v.detach().cpu().clone() for k, v in
                                       model.state_dict().items()},
                           optimizer.state_dict(), history,
                           state.seconds + time.perf_counter() - started, ema)
        if on_epoch is not None:
            on_epoch(state)
        if stop is not None and stop():
            break
    if state.ema is not None:
        # the trained classifier is the average (the network has no buffers to average)
        model.load_state_dict({**model.state_dict(), **state.ema})
    return model.eval(), state
