"""Read a TensorFlow 1.x checkpoint (tensor-bundle format) with numpy and ``struct`` alone.

A bundle is an SSTable ``.index`` (LevelDB's table format: data blocks of prefix-compressed
entries, an index block, a 48-byte footer ending in a magic number) whose values are
``BundleEntryProto`` records (dtype, shape, shard, offset, size), plus raw little-endian
``.data-NNNNN-of-NNNNN`` shards. Sources: TensorFlow ``tensorflow/core/util/tensor_bundle/``
and ``tensorflow/core/protobuf/tensor_bundle.proto``; LevelDB ``doc/table_format.md``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["read_checkpoint"]

_TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB table footer magic
_DTYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("u1"),
    5: np.dtype("<i2"),
    6: np.dtype("i1"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    19: np.dtype("<f2"),
}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _proto_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) of a serialized protobuf message (no schema needed)."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield field, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            yield field, buf[pos : pos + length]
            pos += length
        elif wire == 1:
            yield field, buf[pos : pos + 8]
            pos += 8
        elif wire == 5:
            yield field, buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _block_entries(table: bytes, handle: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield (key, value) pairs of the uncompressed SSTable block that ``handle`` points to."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if table[offset + size] != 0:
        raise ValueError("compressed checkpoint index blocks are not supported")
    block = table[offset : offset + size]
    (n_restarts,) = struct.unpack_from("<I", block, size - 4)
    end = size - 4 - 4 * n_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + length]
        pos += length


def _table_entries(table: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(table) < 48 or struct.unpack_from("<Q", table, len(table) - 8)[0] != _TABLE_MAGIC:
        raise ValueError("not a TensorFlow checkpoint index (bad SSTable footer)")
    footer = table[-48:]
    _, pos = _varint(footer, 0)  # metaindex offset
    _, pos = _varint(footer, pos)  # metaindex size
    for _, data_handle in _block_entries(table, footer[pos:]):
        yield from _block_entries(table, data_handle)


def read_checkpoint(prefix: Path) -> dict[str, np.ndarray]:
    """Read every tensor of a TensorFlow 1.x checkpoint without TensorFlow.

    Args:
        prefix: checkpoint prefix, e.g. ``.../pretrained_models/2stems/model``; the files
            ``<prefix>.index`` and ``<prefix>.data-NNNNN-of-NNNNN`` must exist.

    Returns:
        ``{variable name: array}`` in the checkpoint's (sorted) order, e.g.
        ``"conv2d/kernel"`` float32 (5, 5, 2, 16) in TensorFlow's HWIO layout. Arrays are
        writable copies in native byte order.

    Raises:
        FileNotFoundError: a file of the checkpoint is missing.
        ValueError: the files are not an uncompressed little-endian tensor bundle, use
            partitioned (sliced) variables or an unsupported dtype, or an entry's byte size
            does not match its shape.

    The CRC32C stored with each entry is not checked.
    """
    prefix = Path(prefix)
    table = prefix.with_name(prefix.name + ".index").read_bytes()
    entries: dict[str, dict[int, list[int | bytes]]] = {}
    n_shards = 1
    for key, value in _table_entries(table):
        fields: dict[int, list[int | bytes]] = {}
        for number, item in _proto_fields(value):
            fields.setdefault(number, []).append(item)
        if key == b"":  # BundleHeaderProto: num_shards=1, endianness=2, version=3
            n_shards = int(fields.get(1, [1])[0])
            if fields.get(2, [0])[0] != 0:
                raise ValueError("big-endian checkpoints are not supported")
            continue
        entries[key.decode("utf-8")] = fields

    shards: dict[int, bytes] = {}
    tensors: dict[str, np.ndarray] = {}
    for name, fields in entries.items():
        # BundleEntryProto: dtype=1, shape=2, shard_id=3, offset=4, size=5, crc32c=6, slices=7
        if 7 in fields:
            raise ValueError(f"{name}: partitioned variables are not supported")
        code = int(fields.get(1, [0])[0])
        if code not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype code {code}")
        dtype = _DTYPES[code]
        shape: list[int] = []
        for number, dim in _proto_fields(bytes(fields.get(2, [b""])[0])):
            if number == 2:  # TensorShapeProto.dim -> Dim.size=1
                shape.append(int(dict(_proto_fields(bytes(dim))).get(1, 0)))
        shard = int(fields.get(3, [0])[0])
        offset = int(fields.get(4, [0])[0])
        size = int(fields.get(5, [0])[0])
        if size != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ValueError(f"{name}: {size} bytes do not match shape {shape} of {dtype}")
        if shard not in shards:
            data_path = prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{n_shards:05d}")
            shards[shard] = data_path.read_bytes()
        raw = shards[shard][offset : offset + size]
        if len(raw) != size:
            raise ValueError(f"{name}: data shard {shard} is truncated")
        tensors[name] = (
            np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
        )
    return tensors
