"""The arithmetic a base classifier runs in: fp32, bf16 or int8, with a CPU-friendly layout.

Precision is part of the base classifier's definition. A smoothed classifier's certificate holds
for whichever fixed base classifier votes, so bench uses one precision for evaluation,
certification, prediction and attack, and records it in the defense config. The choice is made by
measurement (``bench perf``, docs/performance.md): on a 2-core AVX-512-bf16 CPU, bf16 runs the
paper's MNIST CNN at about 19,500 forwards/s (2.9x fp32) and agrees with fp32 on 99.87% of
ablation votes, with the same smoothed accuracy on 1,000 test images, so it is the default there.
A CPU without native bf16 (AVX-512 BF16 or AMX) emulates it: on a 2-core AVX2 EPYC, bf16 ran
about 900 forwards/s against fp32's 6,000, so there the default is fp32 (``fast_precision``).
fp32 and int8 stay available everywhere.

``InferenceModel`` also makes each input's logits independent of the batch it is evaluated in
(bitwise, tested): MKL and oneDNN pick other kernels, with another summation order, for batches
of fewer than about 12 rows, so smaller batches are padded to 16 rows. Incremental attack
evaluation relies on this: re-evaluating a few ablations gives exactly the votes a full
evaluation would.
"""

from __future__ import annotations

import copy
import warnings
from typing import Literal

import torch
from torch import nn

__all__ = ["PRECISIONS", "InferenceModel", "Precision", "fast_precision", "native_bf16",
           "quantize_int8"]

Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "int8")
# MKL and oneDNN pick other kernels (another summation order) for batches below about 12 rows
_MIN_ROWS = 16


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` runs bf16 convolutions and matmuls in hardware.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: AVX-512 BF16 or AMX tiles, as torch's CPU
    feature detection reports them; without either, oneDNN emulates bf16 several times slower
    than fp32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and bool(torch.cuda.is_bf16_supported())
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def fast_precision(device: torch.device | str = "cpu") -> Literal["fp32", "bf16"]:
    """The default inference precision of smoothed defenses on ``device``: bf16 where it is
    native, else fp32 (emulated bf16 is slower than fp32)."""
    return "bf16" if native_bf16(device) else "fp32"


class _Quantized(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        from torch.ao import quantization as tq

        self.quant, self.body, self.dequant = tq.QuantStub(), body, tq.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dequant(self.body(self.quant(x)))
        return out


def _fusable(model: nn.Module) -> list[list[str]]:
    """Names of (Conv2d | Linear, ReLU) neighbours in a Sequential, fused before quantizing."""
    names = list(dict(model.named_children()))
    mods = list(model.children())
    return [[names[i], names[i + 1]] for i in range(len(mods) - 1)
            if isinstance(mods[i], nn.Conv2d | nn.Linear) and isinstance(mods[i + 1], nn.ReLU)]


def quantize_int8(model: nn.Module, calibration: torch.Tensor) -> nn.Module:
    """Static post-training int8 quantization (x86 backend, per-channel weights, conv/linear + ReLU
    fused), activation ranges calibrated on ``calibration`` (base-classifier inputs).

    The model must be an ``nn.Sequential`` of Conv2d, Linear, ReLU and Flatten layers (the
    registered architectures are). Uses ``torch.ao.quantization`` eager mode, which torch 2.13
    marks deprecated; its warnings are silenced here.
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError("int8 quantization needs an nn.Sequential base classifier")
    if calibration.dim() != 4 or len(calibration) == 0:
        raise ValueError(f"calibration must be a non-empty (B, C, H, W) batch, got "
                         f"{tuple(calibration.shape)}")
    from torch.ao import quantization as tq

    body = copy.deepcopy(model).float().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq.fuse_modules(body, _fusable(body), inplace=True)  # type: ignore[no-untyped-call]
        wrapped = _Quantized(body).eval()
        wrapped.qconfig = tq.get_default_qconfig("x86")  # type: ignore[no-untyped-call]
        tq.prepare(wrapped, inplace=True)  # type: ignore[no-untyped-call]
        with torch.inference_mode():
            for start in range(0, len(calibration), 1024):
                wrapped(calibration[start : start + 1024].float())
        tq.convert(wrapped, inplace=True)  # type: ignore[no-untyped-call]
    return wrapped


class InferenceModel:
    """A base classifier prepared for fast inference in one precision.

    Args:
        model: the trained fp32 base classifier (not modified; bf16 and int8 work on copies).
        precision: "fp32", "bf16" (weights and activations in bfloat16) or "int8" (static
            quantization; needs ``calibration``).
        calibration: base-classifier inputs for int8's activation ranges.
        device: where it runs. bf16 and int8 are CPU precisions here; on CUDA, bf16 works too.
        batch_invariant: pad small batches so that row i of the output depends only on row i
            of the input, bitwise, whatever B is (smoothed defenses need it; a classifier
            queried one image at a time does not, and padding would cost it 16x).

    Calling it maps fp32 inputs (B, C, H, W) to fp32 logits (B, classes).
    """

    def __init__(self, model: nn.Module, precision: Precision = "fp32", *,
                 calibration: torch.Tensor | None = None,
                 device: torch.device | str = "cpu", batch_invariant: bool = True) -> None:
        self.batch_invariant = batch_invariant
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; one of {PRECISIONS}")
        self.precision, self.device = precision, torch.device(device)
        if precision == "int8":
            if self.device.type != "cpu":
                raise ValueError("int8 runs on the CPU only")
            if calibration is None:
                raise ValueError("int8 needs calibration inputs")
            self.module: nn.Module = quantize_int8(model, calibration)
            self.dtype = torch.float32
        else:
            self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            self.module = copy.deepcopy(model).eval()
            # in place: the same values without a fresh activation buffer per ReLU; big fresh
            # buffers cost page faults (at batch 1,024, about a fifth of the forward time here)
            for layer in self.module.modules():
                if isinstance(layer, nn.ReLU):
                    layer.inplace = True
            self.module.to(device=self.device, dtype=self.dtype)
            # channels_last: faster oneDNN convolutions, same arithmetic
            self.module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.shape[0]
        if self.batch_invariant and rows < _MIN_ROWS:  # small batches take other kernels
            x = torch.cat([x, x[:1].expand(_MIN_ROWS - rows, *x.shape[1:])])
        x = x.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
        logits: torch.Tensor = self.module(x)[:rows].float()
        return logits
