"""Run the local engine on a file, without the web app or a worker."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.audio import AudioError, probe
from jobs.engine import separate_file


class Command(BaseCommand):
    help = "Separate INPUT into foreground.flac and background.flac in --out DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", type=Path)
        parser.add_argument("--out", type=Path, required=True, help="directory for the stems")
        parser.add_argument(
            "--stems",
            choices=["two"],
            default="two",
            help="stem set: 'two' = foreground (speech or vocals) and background",
        )

    def handle(self, *args: object, **options: object) -> None:
        source: Path = options["input"]  # type: ignore[assignment]
        out: Path = options["out"]  # type: ignore[assignment]
        if not source.is_file():
            raise CommandError(f"{source}: no such file")
        try:
            info = probe(source)
        except AudioError as exc:
            raise CommandError(f"{source}: {exc}") from None
        started = time.perf_counter()
        paths = separate_file(source, info, out)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{info.duration_s:.1f} s of {info.container} at {info.sample_rate} Hz, "
            f"{info.channels} ch, separated in {elapsed:.1f} s "
            f"({info.duration_s / elapsed:.1f}x real time)"
        )
        for path in paths:
            self.stdout.write(str(path))
