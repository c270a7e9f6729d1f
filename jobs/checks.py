"""System checks: the local engine's model files, checked by sha256 (``manage.py check``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from audio.engine.modelfiles import INSTALL_HINT, ModelFilesError, problems, verified


@register("stemweb")
def local_engine_models(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """One error per missing or altered model file while the local engine is enabled."""
    if not settings.STEMWEB_PROVIDERS["local"]["enabled"]:
        return []
    model_dir = Path(settings.STEMWEB_MODEL_DIR)
    try:
        verified(model_dir)  # a good result stays cached: the worker's start-up check reuses it
    except ModelFilesError:
        return [
            Error(message, hint=f"To restore the model files, {INSTALL_HINT}.", id="stemweb.E001")
            for message in problems(model_dir)
        ]
    return []
