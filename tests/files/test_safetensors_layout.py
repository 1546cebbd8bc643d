"""The safetensors container: what write_tensors streams, any safetensors reader reads, and
map_tensors maps back without copying."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from attnviz_widget.errors import FormatError
from attnviz_widget.files.safetensors_layout import looks_like_safetensors, map_tensors, write_tensors

TENSORS = {
    "weights": np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7,
    "half": np.linspace(0, 1, 5, dtype=np.float16),
    "bits": np.array([-3, 7, 32767], dtype=np.int16),
    "flags": np.array([True, False, True]),
    "bytes": np.array([0, 255, 1], dtype=np.uint8),
    "counts": np.array([[1, 2], [3, 4]], dtype=np.int64),
    "empty": np.zeros((0, 4), dtype=np.float32),
}


def written(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None,
            convert: dict[str, type] | None = None) -> Path:
    with path.open("wb") as handle:
        write_tensors(handle, tensors, metadata or {"note": "é ✓"}, convert)
    return path


def test_every_dtype_round_trips_through_both_readers(tmp_path: Path) -> None:
    path = written(tmp_path / "all.safetensors", TENSORS)
    header, mapped = map_tensors(path)
    theirs = safetensors.numpy.load_file(str(path))
    assert set(mapped) == set(theirs) == set(TENSORS)
    for name, array in TENSORS.items():
        assert mapped[name].dtype == array.dtype and mapped[name].shape == array.shape
        np.testing.assert_array_equal(mapped[name], array)
        np.testing.assert_array_equal(theirs[name], array)
    assert header["__metadata__"] == {"note": "é ✓"}


def test_tensors_are_views_of_one_read_only_map(tmp_path: Path) -> None:
    _, mapped = map_tensors(written(tmp_path / "a.safetensors", TENSORS))
    for array in mapped.values():
        base = array
        while base is not None and not isinstance(base, np.memmap):
            base = base.base
        assert isinstance(base, np.memmap) and not array.flags.writeable
    with pytest.raises(ValueError):
        mapped["weights"][0, 0, 0] = 1


def test_each_tensor_starts_aligned_to_its_item_size(tmp_path: Path) -> None:
    content = written(tmp_path / "a.safetensors", TENSORS).read_bytes()
    start = 8 + int.from_bytes(content[:8], "little")
    assert start % 8 == 0
    header, _ = map_tensors(tmp_path / "a.safetensors")
    for name, array in TENSORS.items():
        assert (start + header[name]["data_offsets"][0]) % array.dtype.itemsize == 0, name


def test_conversion_while_streaming(tmp_path: Path) -> None:
    path = written(tmp_path / "c.safetensors", {"weights": TENSORS["weights"]}, convert={"weights": np.float16})
    _, mapped = map_tensors(path)
    assert mapped["weights"].dtype == np.float16
    np.testing.assert_allclose(mapped["weights"], TENSORS["weights"], rtol=2.0**-11)


def test_a_dtype_safetensors_cannot_hold() -> None:
    with pytest.raises(FormatError, match="tensor 'z' has dtype complex64, which safetensors cannot hold"):
        write_tensors(io.BytesIO(), {"z": np.zeros(2, np.complex64)}, {})


def test_looks_like_safetensors() -> None:
    assert looks_like_safetensors((4).to_bytes(8, "little") + b"{", 20)
    assert not looks_like_safetensors((40).to_bytes(8, "little") + b"{", 20)  # longer than the file
    assert not looks_like_safetensors(b'{"tokens": ', 100)
    assert not looks_like_safetensors(b"\x01\x00", 2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x05\x00\x00", "truncated safetensors file: 3 bytes, shorter than the 8-byte header length"),
        ((50).to_bytes(8, "little") + b"{}", "the header says 50 bytes follow the length but the file has 2"),
        (b"GIF89a" + b"\x00" * 40, "not a safetensors file: it does not start with a header length"),
        ((2).to_bytes(8, "little") + b"\xff\xfe", "its header is not JSON"),
        ((2).to_bytes(8, "little") + b"[]", "its header is not a JSON object"),
        ((40).to_bytes(8, "little") + b'{"x":{"dtype":"F32","shape":[2]}}'.ljust(40),
         "tensor 'x' has an invalid header entry"),
        ((56).to_bytes(8, "little") + b'{"x":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}'.ljust(56),
         "tensor 'x' has an invalid header entry"),
        ((56).to_bytes(8, "little") + b'{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}'.ljust(56),
         "tensor 'x': data_offsets span 4 bytes but shape (3,) of float32 needs 12"),
        ((56).to_bytes(8, "little") + b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'.ljust(56) + b"\0",
         "truncated safetensors file: tensor 'x' ends at byte 68 but the file has 65 bytes"),
    ],
)
def test_damaged_containers(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(FormatError) as raised:
        map_tensors(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)
