"""Fetch, check and convert the local engine's model files into ``STEMWEB_MODEL_DIR``."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audio.engine.install import install
from audio.engine.modelfiles import ModelFilesError, problems


class Command(BaseCommand):
    help = "Install the local engine's model files (the only step that reaches a registry)."
    requires_system_checks: list[str] = []  # the model check is what this command repairs

    def handle(self, *args: object, **options: object) -> None:
        model_dir = Path(settings.STEMWEB_MODEL_DIR)
        try:
            install(model_dir, log=self.stdout.write)
        except ModelFilesError as exc:
            raise CommandError(f"install failed: {exc}") from None
        if found := problems(model_dir):
            raise CommandError("\n".join(found))
        self.stdout.write(f"model files verified in {model_dir}")
