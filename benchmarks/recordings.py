"""Where the benchmarks find the shared recordings: ``../shared`` beside the checkout, or
``STEMWEB_SHARED_DIR``, as the tests find them."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STEMWEB_SHARED_DIR", ROOT.parent / "shared"))
DEV = SHARED / "audio" / "dev"  # one folder per recording: mixture.flac and its stems
