"""The torch settings every transformer run pins, and records.

Determinism is a property of (code, weights, device, dtype, *settings*): a
CUDA matmul may use TF32 tensor cores (10-bit significands) or pick a
non-deterministic algorithm unless told not to.  ``pinned(tf32=False)``
sets, for the duration of a run:

- ``torch.use_deterministic_algorithms(True)`` (an op without a
  deterministic implementation raises instead of racing);
- cuDNN ``deterministic=True``, ``benchmark=False``;
- float32 matmul and cuDNN precision ``"ieee"`` (``"tf32"`` for the
  ``tf32`` config variant, which exists to show what TF32 does);
- ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS's requirement for
  deterministic results; set at import, before any cuBLAS handle exists,
  unless the environment already sets it).

The previous settings are restored on exit, so configs with different
settings can share a process (the fuzzer runs several).  ``settings()``
is what a results row records in ``versions``.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import torch

CUBLAS_WORKSPACE = ":4096:8"
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


def settings() -> dict[str, str]:
    """The determinism-relevant torch settings in force now, as strings."""
    return {
        "deterministic_algorithms": str(torch.are_deterministic_algorithms_enabled()),
        "cudnn_deterministic": str(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": str(torch.backends.cudnn.benchmark),
        "matmul_fp32_precision": torch.backends.cuda.matmul.fp32_precision,
        "cudnn_fp32_precision": torch.backends.cudnn.fp32_precision,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
        "cuda": torch.version.cuda or "none",
    }


@contextmanager
def pinned(tf32: bool = False):
    """Run the body with the pinned settings (TF32 matmuls if ``tf32``); restore the previous ones after."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.fp32_precision)
    precision = "tf32" if tf32 else "ieee"
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.backends.cuda.matmul.fp32_precision = precision
    torch.backends.cudnn.fp32_precision = precision
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
        torch.backends.cuda.matmul.fp32_precision = saved[4]
        torch.backends.cudnn.fp32_precision = saved[5]
