"""Device choice: the best available by default, an error for an unavailable one."""

from __future__ import annotations

import pytest
import torch

from attnviz_widget import InputError
from attnviz_widget.devices import best_device, resolve_device


def test_default_is_the_best_available_device() -> None:
    assert resolve_device(None) == best_device()
    assert resolve_device("auto") == best_device()
    if not torch.cuda.is_available():
        assert best_device().type in ("cpu", "mps")


def test_cpu_is_always_available() -> None:
    assert resolve_device("CPU") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_is_an_error() -> None:
    with pytest.raises(InputError, match="CUDA is not available here.*--device cpu"):
        resolve_device("cuda")


def test_unknown_devices_are_errors() -> None:
    for name in ("tpu", "gpu0", "cuda:x"):
        with pytest.raises(InputError, match="unknown device"):
            resolve_device(name)
