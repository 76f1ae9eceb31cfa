"""Deterministic L0 certificates from a partition of the pixel positions: feature partition
aggregation (FPA; Hammoudeh & Lowd 2024) and derandomized ablation.

The d = H * W pixel positions are split into T disjoint groups, by a seeded random partition or a
strided one. Each
group casts one vote, computed from that group's pixels only (the rest NULL), and the answer is
the plurality vote, ties to the smaller label. A changed pixel changes at most one vote, so the
radius of ``defenses.partition_math.partition_radius`` is exact, with no sampling and no failure
probability. Two kinds of voters:

- ``GroupSubmodels`` (FPA): one submodel per group, all T evaluated together as one batched
  network (their weights stacked, ``torch.vmap``), each seeing its group's pixels in the
  multichannel encoding;
- ``SharedBase`` (derandomized ablation): one base classifier trained with randomized ablation,
  evaluated on the T groups as T fixed ablations.

Both map images (B, C, H, W) in [0, 1] to logits (B, T, classes); ``PartitionVote`` turns them
into the Defense protocol.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from defenses.base import L0_PIXELS, Certificate, Prediction
from defenses.encodings import Encoding, Fill, encode
from defenses.oracles import LogitOracle, Oracle, Queries
from defenses.partition_math import partition_radius, plurality
from defenses.precision import InferenceModel, Precision
from defenses.surrogate import MeanSoftmax

__all__ = ["LAYOUTS", "GroupSubmodels", "Layout", "PartitionVote", "SharedBase", "group_masks",
           "partition", "random_partition", "strided_partition"]

CERTIFICATE = "partition"
"""The name records give the partition-vote certificate."""


def random_partition(d: int, groups: int, seed: int) -> torch.Tensor:
    """The group of each of d pixel positions: a uniformly random permutation from ``seed``, dealt
    round-robin into ``groups`` groups, so group sizes differ by at most one (the first d % T
    groups get one more).

    Returns:
        Long tensor (d,) with values in 0..groups-1, on the CPU.
    """
    if not 1 <= groups <= d:
        raise ValueError(f"the number of groups must be in 1..{d}, got {groups}")
    order = torch.randperm(d, generator=torch.Generator().manual_seed(seed))
    owner = torch.empty(d, dtype=torch.long)
    owner[order] = torch.arange(d) % groups
    return owner


def strided_partition(height: int, width: int, groups: int) -> torch.Tensor:
    """The group of each pixel position when the positions are walked column by column and dealt
    round-robin: (r, c) goes to group (c * H + r) mod T. Each group is a regular lattice of
    positions spread over the whole image (the layout of the FPA paper's MNIST experiments).

    Returns:
        Long tensor (H * W,) in row-major position order, values in 0..groups-1.
    """
    d = height * width
    if not 1 <= groups <= d:
        raise ValueError(f"the number of groups must be in 1..{d}, got {groups}")
    by_column = torch.arange(d).view(height, width).t().reshape(-1)
    owner = torch.empty(d, dtype=torch.long)
    owner[by_column] = torch.arange(d) % groups
    return owner


Layout = Literal["random", "strided"]
LAYOUTS: tuple[Layout, ...] = ("random", "strided")


def partition(size: tuple[int, int], groups: int, layout: Layout, seed: int) -> torch.Tensor:
    """The group of each of the H * W positions (``size`` = (H, W)): ``random_partition`` from
    ``seed``, or ``strided_partition`` (no randomness)."""
    if layout == "strided":
        return strided_partition(size[0], size[1], groups)
    if layout == "random":
        return random_partition(size[0] * size[1], groups, seed)
    raise ValueError(f"unknown layout {layout!r}; one of {LAYOUTS}")


def group_masks(owner: torch.Tensor, groups: int, size: tuple[int, int]) -> torch.Tensor:
    """Bool (T, H, W): each group's pixel positions, for a partition ``owner`` (d,)."""
    return (owner.unsqueeze(0) == torch.arange(groups).unsqueeze(1)).view(groups, *size)


def _members(owner: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, g) pixel positions of each group in increasing order, padded with d, and (T, g) bool:
    which entries are real (g: the largest group's size)."""
    d = owner.numel()
    lists = [torch.nonzero(owner == t).flatten() for t in range(groups)]
    width = max(len(m) for m in lists)
    members = torch.full((groups, width), d, dtype=torch.long)
    valid = torch.zeros(groups, width, dtype=torch.bool)
    for t, m in enumerate(lists):
        members[t, : len(m)], valid[t, : len(m)] = m, True
    return members, valid


def _reindex(module: nn.Module, incompatible: object) -> None:
    """After weights are loaded: each group's positions from the loaded partition."""
    if isinstance(module, GroupSubmodels):
        module._frozen.clear()
        members, valid = _members(module.owner, module.groups)
        module.members, module.valid = members.to(module.owner.device), valid.to(
            module.owner.device)


class GroupSubmodels(nn.Module):
    """T submodels, submodel t on group t's pixels only, evaluated together.

    Submodel t sees a (2C, g, 1) input: its group's positions in increasing order, each as the
    multichannel pair (x, 1 - x), padded with NULL (0, 0) up to the largest group's size g. For a
    fully connected submodel this is the same function class as a network on the whole
    multichannel image with every other position NULL (NULL inputs contribute nothing), at d / g
    times less work.

    Args:
        submodels: T modules of one architecture, (B, 2C, g, 1) -> (B, classes).
        owner: the partition, (d,) group of each pixel position (``random_partition``); kept as a
            buffer, so checkpoints record it.
        image_shape: (C, H, W).

    Shape: (B, C, H, W) in [0, 1] -> logits (B, T, classes).
    """

    owner: torch.Tensor
    members: torch.Tensor
    valid: torch.Tensor

    def __init__(self, submodels: Sequence[nn.Module], owner: torch.Tensor,
                 image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        groups = len(submodels)
        if owner.numel() != image_shape[1] * image_shape[2] or int(owner.max()) != groups - 1:
            raise ValueError(f"a partition of {image_shape[1] * image_shape[2]} positions into "
                             f"{groups} groups is needed")
        self.submodels = nn.ModuleList(submodels)
        self.register_buffer("owner", owner.clone())
        members, valid = _members(owner, groups)
        self.register_buffer("members", members, persistent=False)
        self.register_buffer("valid", valid, persistent=False)
        # a loaded partition is the one used
        self.register_load_state_dict_post_hook(_reindex)  # type: ignore[no-untyped-call]
        # the submodels' structure without weights, called with the stacked weights, and the
        # stacked weights of a frozen copy (``freeze``): both left out of pickles, and made
        # afresh for copies
        self._template = [copy.deepcopy(submodels[0]).to("meta")]
        self._frozen: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_template"], state["_frozen"] = [], []
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        super().__setstate__(state)  # type: ignore[no-untyped-call]
        self._template = [copy.deepcopy(self.submodels[0]).to("meta")]

    def freeze(self) -> GroupSubmodels:
        """Stack the weights once, for a copy whose weights no longer change (inference, a
        surrogate): each call then skips restacking them (most of a one-image call's time).
        Loading weights or moving the module afterwards needs another ``freeze``."""
        self._frozen[:] = [self._stacked()]
        return self

    def _stacked(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        if self._frozen:
            return self._frozen[0]
        params = {name: torch.stack([dict(m.named_parameters())[name]
                                     for m in self.submodels])
                  for name, _ in self.submodels[0].named_parameters()}
        buffers = {name: torch.stack([dict(m.named_buffers())[name] for m in self.submodels])
                   for name, _ in self.submodels[0].named_buffers()}
        return params, buffers

    @property
    def groups(self) -> int:
        return len(self.submodels)

    def group_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(T, B, 2C, g, 1): each group's pixels of images x (B, C, H, W), multichannel encoded,
        NULL-padded."""
        flat = x.flatten(2)  # (B, C, d)
        flat = torch.cat([flat, flat.new_zeros(*flat.shape[:2], 1)], dim=2)  # position d: pad
        picked = flat[:, :, self.members]  # (B, C, T, g)
        on = self.valid.to(x.dtype)
        encoded = torch.cat([picked * on, (1.0 - picked) * on], dim=1)  # (B, 2C, T, g)
        return encoded.permute(2, 0, 1, 3).unsqueeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params, buffers = self._stacked()
        template = self._template[0]

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor],
                inputs: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = torch.func.functional_call(template, (p, b), (inputs,))
            return out

        logits: torch.Tensor = torch.vmap(one)(params, buffers, self.group_inputs(x))
        return logits.transpose(0, 1)  # (B, T, classes)


class SharedBase(nn.Module):
    """One base classifier on T fixed ablations: group t's positions kept, the rest NULL.

    Args:
        model: the base classifier, encoded ablations (B, C', H, W) -> (B, classes) (a
            randomized-ablation one).
        masks: (T, H, W) bool, the groups (``group_masks``).
        encoding, fill: the NULL encoding the base classifier was trained with.

    Shape: (B, C, H, W) in [0, 1] -> logits (B, T, classes).
    """

    masks: torch.Tensor

    def __init__(self, model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
                 masks: torch.Tensor, encoding: Encoding = Encoding.MULTICHANNEL,
                 fill: Fill = 0.0) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("masks", masks.clone(), persistent=False)
        self.encoding, self.fill = encoding, fill

    @property
    def groups(self) -> int:
        return len(self.masks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], self.groups
        inputs = encode(x.repeat_interleave(t, dim=0), self.masks.repeat(b, 1, 1),
                        self.encoding, self.fill)
        out: torch.Tensor = self.model(inputs)
        return out.view(b, t, -1)


def _inference(voters: GroupSubmodels | SharedBase, precision: Precision,
               device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """``voters`` ready for inference: a shared base classifier in ``precision``; the stacked
    submodels in fp32 (the only precision they offer)."""
    if isinstance(voters, SharedBase):
        if precision == "int8":
            raise ValueError("derandomized ablation runs in fp32 or bf16, not int8")
        if not isinstance(voters.model, nn.Module):
            raise TypeError("a SharedBase made for inference cannot be prepared again")
        base = InferenceModel(voters.model, precision, device=device, batch_invariant=False)
        return SharedBase(base, voters.masks, voters.encoding, voters.fill).to(device)
    if precision != "fp32":
        raise ValueError(f"partition submodels run in fp32 only, not {precision}")
    return copy.deepcopy(voters).eval().to(device).freeze()


class PartitionVote:
    """The plurality vote of T partition groups behind the Defense protocol: deterministic, never
    abstains, exact certified L0 radius.

    Args:
        voters: (B, C, H, W) in [0, 1] -> (B, T, classes) logits, group t's vote read only from
            group t's pixel positions (``GroupSubmodels`` or ``SharedBase``).
        num_classes: number of classes.
        batch_size: forward passes per batch, T per image (speed only).
        precision: "fp32", or "bf16" for a ``SharedBase``.
        device: where the voters run.
        name: the registry name.

    ``predict`` and ``certify`` carry the T votes per class as ``counts``; each image costs T
    forward passes of a submodel (or of the shared base classifier). ``generators`` are accepted
    for the protocol and ignored. An attack queries the vote counts (``oracle``); a gradient attack
    differentiates the log of the groups' mean softmax (``surrogate``).
    """

    samples = 0
    alpha = 0.0
    threat_model = L0_PIXELS

    def __init__(self, voters: GroupSubmodels | SharedBase, *, num_classes: int = 10,
                 batch_size: int = 1024,
                 precision: Precision = "fp32", device: torch.device | str = "cpu",
                 name: str = "fpa") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not isinstance(voters, GroupSubmodels | SharedBase):
            raise TypeError(f"voters must be GroupSubmodels or SharedBase, got "
                            f"{type(voters).__name__}")
        self.device = torch.device(device)
        self.voters = voters.eval()
        self.groups = voters.groups
        self.infer = _inference(voters, precision, self.device)
        self.num_classes, self.batch_size, self.name = num_classes, batch_size, name
        self.precision = precision
        self.forward_passes = 0

    @torch.inference_mode()
    def group_votes(self, x: torch.Tensor) -> torch.Tensor:
        """Each group's vote (B, T), long, on the CPU, for images (B, C, H, W) in [0, 1]."""
        if x.dim() != 4:
            raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
        step = max(1, self.batch_size // self.groups)
        votes = [self.infer(x[s : s + step].to(self.device).float()).argmax(-1).cpu()
                 for s in range(0, x.shape[0], step)]
        self.forward_passes += x.shape[0] * self.groups
        return torch.cat(votes)

    def votes(self, x: torch.Tensor) -> torch.Tensor:
        """Votes per class (B, classes), long."""
        votes = self.group_votes(x)
        counts = torch.zeros(len(votes), self.num_classes, dtype=torch.long)
        return counts.scatter_add_(1, votes, torch.ones_like(votes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The scores an attack reads: votes per class as floats (B, classes); their argmax with
        ties to the smaller label is the answer."""
        return self.votes(x).float()

    def predict(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Prediction]:
        """The plurality vote of each image (never ABSTAIN), with its votes."""
        return [Prediction(plurality(row), tuple(row)) for row in self.votes(x).tolist()]

    def certify(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> list[Certificate]:
        """The plurality vote and its exact radius (p_lower 1.0: nothing is estimated)."""
        return [Certificate(plurality(row), partition_radius(row), 1.0, counts=tuple(row),
                            certificate=CERTIFICATE) for row in self.votes(x).tolist()]

    def oracle(self, shape: tuple[int, int, int], label: int, generator: torch.Generator,
               queries: Queries) -> Oracle:
        """The vote counts of every query (no noise: the arguments are unused)."""
        return LogitOracle(self)

    def surrogate(self, shape: tuple[int, int, int], generator: torch.Generator,
                  draws: int) -> nn.Module:
        """log of the groups' mean softmax (B, classes), fp32, differentiable (the arguments are
        unused: there is no noise)."""
        surrogate = MeanSoftmax(self.voters, self.device, self, self.groups)
        if isinstance(surrogate.model, GroupSubmodels):
            surrogate.model.freeze()
        return surrogate
