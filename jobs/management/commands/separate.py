"""Run the local engine on a file, without the web app or a worker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audio.engine.fusion import Mode
from audio.engine.separator import separate_file
from audio.probe import AudioError, probe, require_duration
from providers.base import ProviderError
from providers.local.client import load_engine

STEMS = {"two": (Mode.FOREGROUND, ("foreground", "background")),
         "vocals": (Mode.VOCALS, ("vocals", "instrumental"))}  # fmt: skip


class Command(BaseCommand):
    help = "Separate INPUT into two FLAC stems in --out DIR with the local engine."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", type=Path)
        parser.add_argument("--out", type=Path, required=True, help="directory for the stems")
        parser.add_argument(
            "--stems",
            choices=sorted(STEMS),
            default="two",
            help="'two' = foreground.flac (speech or vocals) and background.flac; "
            "'vocals' = vocals.flac and instrumental.flac (vocals-first fusion)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source: Path = options["input"]
        out: Path = options["out"]
        mode, names = STEMS[str(options["stems"])]
        if not source.is_file():
            raise CommandError(f"{source}: no such file")
        try:
            info = probe(source)
            require_duration(
                info,
                shortest_s=settings.STEMWEB_MIN_DURATION_S,
                longest_s=float("inf"),  # the upload limit is for the web; a file here is yours
            )
        except AudioError as exc:
            raise CommandError(f"{source}: {exc}") from None
        started = time.perf_counter()
        try:
            engine = load_engine()
        except ProviderError as exc:
            raise CommandError(str(exc)) from None
        paths = separate_file(engine, source, info, out, mode=mode, stem_names=names)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{info.duration_s:.1f} s of {info.container} at {info.sample_rate} Hz, "
            f"{info.channels} ch, separated in {elapsed:.1f} s "
            f"({info.duration_s / elapsed:.1f}x real time, model loading included)"
        )
        for path in paths:
            self.stdout.write(str(path))
