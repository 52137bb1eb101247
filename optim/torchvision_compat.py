"""Make torchvision importable next to a CPU-only torch (one small, documented shim).

The torchvision 0.28.0 wheel on PyPI is a CUDA build. Imported next to the CPU-only
torch 2.13.0 wheel it fails with "operator torchvision::nms does not exist": its Python
code registers fake (meta) kernels for ``torchvision::nms`` and ``torchvision::qnms``, whose
schemas the C++ extension would have defined but cannot load without CUDA. Defining those
two schemas first lets the import finish. Datasets, transforms and models then work;
``torchvision.ops.nms`` and ``torchvision.io.decode_image`` do not (no C++ kernels).

:func:`torchvision_datasets` applies it where the package imports torchvision (the
downloaders of :mod:`optim.data`); :func:`patch_torchvision` does nothing unless torch
is a CPU build and the installed torchvision is a CUDA build (the ``+cuXXX`` tag of its
``version.py``, read without importing it). On matching builds, e.g. torch 2.11 / torchvision 0.26 on a GPU
machine, nothing is touched.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # kept alive: a torch.library.Library is unregistered when collected


def _torchvision_cuda_version() -> str | None:
    """CUDA version torchvision was built for, or None (CPU build or not installed)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    version_file = Path(spec.origin).with_name("version.py")
    if not version_file.exists():
        return None
    # e.g. "__version__ = '0.28.0+cu130'": the local tag names the CUDA build.
    match = re.search(r"^__version__\s*=\s*['\"][^'\"+]*\+cu(\d+)['\"]", version_file.read_text(), re.M)
    return match.group(1) if match else None


def _schema_exists(qualified_name: str) -> bool:
    import torch

    try:
        return torch._C._get_operation_overload(qualified_name, "") is not None
    except RuntimeError:
        return False


def needs_patch() -> bool:
    """True when torch is CPU-only but torchvision expects CUDA kernels."""
    import sys

    import torch

    if "torchvision" in sys.modules:  # already imported: nothing to fix any more
        return False
    return torch.version.cuda is None and _torchvision_cuda_version() is not None


def patch_torchvision() -> bool:
    """Define the missing ``torchvision::nms``/``qnms`` schemas if needed; True if it did."""
    global _library
    if not needs_patch():
        return False
    import torch

    missing = [name for name in _SCHEMAS if not _schema_exists(f"torchvision::{name}")]
    if missing:
        _library = torch.library.Library("torchvision", "DEF")
        for name in missing:
            _library.define(_SCHEMAS[name])
    return bool(missing)


def torchvision_datasets():
    """``torchvision.datasets``, importable next to a CPU-only torch (see the module docstring)."""
    patch_torchvision()
    from torchvision import datasets

    return datasets
