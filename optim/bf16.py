"""bf16 autocast on a CPU without bf16 in hardware, at fp32 speed and with native bf16's rounding.

Under ``torch.autocast(dtype=torch.bfloat16)`` the heavy operations — convolutions and matrix
products, forward and backward — take bf16 operands and return a bf16 result. On an AMX or
AVX512-BF16 CPU (and a GPU's tensor cores) oneDNN multiplies the bf16 operands exactly and
accumulates the products in fp32, rounding only the result to bf16. A CPU without those
instructions (AMD Zen 2 and Zen 3, for instance) runs the same operations through PyTorch's
fallback kernels: measured on a Zen 3, a WRN-10-2 training step took 12× as long as in fp32,
and its convolution's weight gradient was eight times further from the exact value than the
bf16 result rounded once (1.4% against 0.17%; ``tests/test_precision.py``).

:class:`Bf16ByFp32` computes exactly what the native kernels compute, in fp32 kernels: a bf16
operand converts to fp32 without loss, the product of two bf16 numbers is exact in fp32, the
fp32 kernel accumulates in fp32, and the result is rounded to bf16 once. Everything else —
which operations autocast casts, batch normalization and activations on bf16 tensors, the
fp32 weights, gradients and optimizer state — is PyTorch's own, untouched. Only the order of
the fp32 additions can differ from a native kernel's, as it differs between an AMX CPU and an
AVX512-BF16 one.

Not covered: a bf16 LSTM (oneDNN's ``mkldnn_rnn_layer``), which keeps its recurrent state in
bf16 between time steps inside the kernel; the runner refuses it on such a CPU instead
(:func:`optim.runner.check_trainable_on`).
"""

from __future__ import annotations

import contextlib

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

aten = torch.ops.aten

# autocast's bf16 operations that accumulate: as the dispatcher shows them with autograd (the
# primitives: convolution, mm, ...) and without, under torch.inference_mode (the composites:
# conv2d, linear, ...)
HEAVY = frozenset({
    aten.convolution.default, aten.convolution_backward.default, aten._convolution.default,
    aten.conv1d.default, aten.conv2d.default, aten.conv3d.default,
    aten.conv1d.padding, aten.conv2d.padding, aten.conv3d.padding,
    aten.conv_transpose1d.default, aten.conv_transpose2d.input, aten.conv_transpose3d.input,
    aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default, aten.addbmm.default,
    aten.linear.default, aten.matmul.default,
})


def _to(dtype_from: torch.dtype, dtype_to: torch.dtype):
    return lambda t: t.to(dtype_to) if isinstance(t, torch.Tensor) and t.dtype == dtype_from else t


class Bf16ByFp32(TorchDispatchMode):
    """Within this mode, each :data:`HEAVY` operation on bf16 tensors runs as fp32 on the
    exactly converted operands, and its fp32 results are rounded to bf16 once; every other
    operation runs unchanged. Active for forward and backward passes begun inside it."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in HEAVY and any(isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16
                                 for a in (*args, *kwargs.values())):
            up = _to(torch.bfloat16, torch.float32)
            out = func(*tree_map(up, args), **tree_map(up, kwargs))
            return tree_map(_to(torch.float32, torch.bfloat16), out)
        return func(*args, **kwargs)


def bf16_arithmetic(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """The context a bf16-autocast run trains in: :class:`Bf16ByFp32` on a CPU without native
    bf16, nothing otherwise (``enabled``: the run trains under bf16 autocast)."""
    from .training import native_bf16

    return Bf16ByFp32() if enabled and device.type == "cpu" and not native_bf16(device) else contextlib.nullcontext()
