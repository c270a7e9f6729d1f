"""Upload temp files that nobody will delete: Django streams an upload to a temporary file in
``FILE_UPLOAD_TEMP_DIR`` and deletes it when the request ends, but a web worker killed mid-upload
(gunicorn's SIGKILL after its timeout, the OOM killer) leaves it behind for good.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

# Django's TemporaryUploadedFile names them tempfile-style, "tmp<random>.upload.<ext>"; only
# those are touched, so a temp dir shared with other programs loses nothing of theirs.
_PATTERN = "tmp*.upload*"


def sweep(directory: str | os.PathLike[str], older_than_s: float) -> list[Path]:
    """Delete the upload temp files in ``directory`` last written more than ``older_than_s``
    seconds ago, and return their paths.

    A live upload writes its file continuously and a request's validation is bounded, so an
    hour (3600) is safely past any upload still in progress. Subdirectories, symlinks and other
    files are left alone; a file that disappears meanwhile (its request ended) is skipped.
    """
    cutoff = time.time() - older_than_s
    removed = []
    for path in Path(directory).glob(_PATTERN):
        try:
            info = path.lstat()  # a symlink is judged as itself, never followed
            if not stat.S_ISREG(info.st_mode) or info.st_mtime >= cutoff:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
