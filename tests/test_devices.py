"""Device choice: the best available by default, an error for an unavailable one."""

from __future__ import annotations

import pytest
import torch

from attnviz_widget import InputError
from attnviz_widget.devices import best_device, resolve_device


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_default_prefers_cuda_then_mps_then_cpu(
    cuda: bool, mps: bool, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each machine would pick, the availability checks replaced (this one has only a CPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert best_device() == torch.device(expected)
    for default in (None, "auto", " AUTO ", ""):
        assert resolve_device(default) == torch.device(expected)


def test_a_device_asked_for_is_kept_when_it_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(" MPS ") == torch.device("mps")
    assert resolve_device("cpu") == torch.device("cpu")  # not upgraded to the best device
    with pytest.raises(InputError, match=r"'cuda:2' does not exist.*2 CUDA device\(s\): cuda:0 to cuda:1"):
        resolve_device("cuda:2")


def test_mps_on_a_machine_without_it_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(InputError, match="MPS is not available here.*--device cpu"):
        resolve_device("mps")


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
