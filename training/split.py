"""Train and validation by source recording: a recording's key decides its side, for good.

A recording goes to validation when the first 8 bytes of sha256("stemweb-corpus-v1:" + key),
read as a number, fall in the lowest ``share`` of their range. The split does not depend on
which other recordings exist, so adding a source never moves a recording across.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TypeVar

SALT = "stemweb-corpus-v1:"
VALIDATION_SHARE = 0.15

T = TypeVar("T")


def side(key: str, share: float = VALIDATION_SHARE) -> str:
    """``"validation"`` or ``"train"`` for the recording ``key``."""
    value = int.from_bytes(hashlib.sha256((SALT + key).encode()).digest()[:8], "big")
    return "validation" if value < share * 2**64 else "train"


def split(
    items: Iterable[T],
    key: callable,
    share: float = VALIDATION_SHARE,  # type: ignore[valid-type]
) -> tuple[list[T], list[T]]:
    """(train, validation) of ``items``, by ``key(item)``."""
    train: list[T] = []
    validation: list[T] = []
    for item in items:
        (validation if side(key(item), share) == "validation" else train).append(item)
    return train, validation


def shared_keys(train: Sequence[str], validation: Sequence[str]) -> set[str]:
    """Recording keys on both sides (empty for a sound split)."""
    return set(train) & set(validation)
