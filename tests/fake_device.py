"""A stand-in accelerator for CI: fake tensors on the "meta" device, and a copy counter.

Inside :func:`fake_accelerator`, tensors made on ``"meta"`` are fake tensors that
carry shapes, dtypes and a device but no data. A CPU tensor mixed into their
computation raises ``FakeTensorDeviceMismatchError`` (0-dim CPU tensors excepted, as
on CUDA), and anything that needs their values (``.item()``, ``bool(t)``,
``nonzero``) raises ``DataDependentOutputException``: exactly the wrong-device
tensors and hidden host syncs that would slow or break a GPU run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

DEVICE = torch.device("meta")


@contextlib.contextmanager
def fake_accelerator() -> Iterator[FakeTensorMode]:
    """FakeTensorMode in which ``Module.to("meta")`` turns parameters into fake tensors."""
    previous = torch.__future__.get_overwrite_module_params_on_conversion()
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        with FakeTensorMode(allow_non_fake_inputs=True) as mode:
            yield mode
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(previous)


# factories that read host data: a copy when they create a tensor on the device
_FROM_HOST = {torch.tensor, torch.as_tensor, torch.asarray}


class CopyCounter(TorchFunctionMode):
    """Record every call whose tensors cross between the host and another device.

    A call counts when its tensor inputs and its tensor outputs are not all on
    the same kind of device (``.to``, ``.cpu()``, ``copy_`` across devices), or
    when it builds a device tensor from host data (``torch.tensor(..., device=)``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        out = func(*args, **(kwargs or {}))
        inputs = {t.device.type for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        outputs = {t.device.type for t in tree_leaves(out) if isinstance(t, torch.Tensor)}
        crossing = len(inputs | outputs) > 1
        if crossing or (func in _FROM_HOST and outputs - {"cpu"}):
            self.calls.append(getattr(func, "__name__", str(func)))
        return out

    def take(self) -> list[str]:
        """Calls recorded since the last ``take``."""
        calls, self.calls = self.calls, []
        return calls
