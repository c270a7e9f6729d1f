"""Serve sandbox CAMB.AI, FineVoice and Suno-style APIs on loopback, backed by the local engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from providers.sandboxing.state import Sandbox
from sandbox.server import serve


class Command(BaseCommand):
    help = "Run the provider sandboxes: /camb/apis/, /finevoice/, /suno/ on one port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument("--api-key", default="sandbox-key", help="the key every API expects")
        parser.add_argument(
            "--callback-scale",
            type=float,
            default=1.0,
            help="multiply the Suno-style callback retry delays (1, 5, 15 minutes) by this",
        )
        parser.add_argument(
            "--tracks",
            type=Path,
            default=settings.BASE_DIR.parent / "shared" / "audio" / "dev",
            help="folder of case folders whose mixture.flac become Suno-style platform tracks",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sandbox = Sandbox(api_key=options["api_key"], callback_scale=options["callback_scale"])
        tracks: Path = options["tracks"]
        for mixture in sorted(tracks.glob("*/mixture.flac")) if tracks.is_dir() else []:
            sandbox.add_track(mixture.parent.name, "audio-1", mixture)
        httpd, url = serve(sandbox, options["host"], options["port"])
        self.stdout.write(f"provider sandbox at {url} (API key {options['api_key']!r})")
        for task_id, audio_id in sandbox.tracks:
            self.stdout.write(f"  Suno-style track: taskId={task_id} audioId={audio_id}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            httpd.shutdown()
            sandbox.shutdown()
