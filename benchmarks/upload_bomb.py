#!/usr/bin/env python
"""Upload validation of decode bombs against a normal 3-minute recording, in one run.

Writes a normal 3-minute 44.1 kHz stereo FLAC (the six dev mixtures, repeated) and FLAC bombs
written by hand: 2 hours of 8-channel 96 kHz audio in a few hundred KB (every frame one constant
value per channel), announcing its length honestly, not at all, or as 10 minutes, and the same
at 192 kHz announcing the longest length allowed. Each goes through the web's check
(``library.sources.check_upload``, what the upload form runs) and the worker's whole check
(``check_whole``); the script prints the median time and the frames each decoded.
``--unbounded`` also times ``probe`` without limits, which is what uploads did before issue 11.

Target (issue 11): the web's check does not grow with what a header announces: a bomb is refused
from its header, or costs at most STEMWEB_UPLOAD_CHECK_S seconds of decoding at its channels
and rate.
Run: .venv/bin/python benchmarks/upload_bomb.py [--repeat 3] [--unbounded]
"""

from __future__ import annotations

import argparse
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf
from recordings import DEV

# isort: split
from django.conf import settings

from audio.probe import AudioError, AudioInfo, probe
from library.sources import check_upload, check_whole

BOMB = {"seconds": 2 * 3600, "rate": 96000, "channels": 8}


def _crc8(data: bytes) -> int:
    """CRC-8 of a FLAC frame header: polynomial x^8 + x^2 + x + 1, initial 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


_CRC16 = _crc16_table()


def _crc16(data: bytes) -> int:
    """CRC-16 of a FLAC frame: polynomial x^16 + x^15 + x^2 + 1, initial 0."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def _utf8(n: int) -> bytes:
    """A frame number in FLAC's extended UTF-8 coding."""
    if n < 0x80:
        return bytes([n])
    for length, lead in ((2, 0xC0), (3, 0xE0), (4, 0xF0), (5, 0xF8), (6, 0xFC)):
        if n < 1 << (5 * length + 1):
            tail = [0x80 | ((n >> (6 * k)) & 0x3F) for k in reversed(range(length - 1))]
            return bytes([lead | (n >> (6 * (length - 1))), *tail])
    raise ValueError(n)


def write_flac_bomb(
    path: Path, *, seconds: int, rate: int, channels: int, announce: int | None = None
) -> None:
    """``seconds`` of 16-bit audio in frames of 65,535 samples, each channel one CONSTANT
    subframe (3 bytes), so an hour of 8-channel audio takes about 190 KB. ``announce`` is the
    length STREAMINFO gives (default: the true one; 0: not known). Format:
    https://xiph.org/flac/format.html (STREAMINFO, FRAME_HEADER, SUBFRAME_CONSTANT)."""
    block, total = 65535, seconds * rate
    announced = total if announce is None else announce
    info = struct.pack(">HH", block, block) + b"\0" * 6  # frame sizes: not known
    info += ((rate << 44) | ((channels - 1) << 41) | (15 << 36) | announced).to_bytes(8, "big")
    info += b"\0" * 16  # no MD5
    subframe = b"\x00" + struct.pack(">h", 328)  # CONSTANT, value 328 (-40 dBFS)
    with open(path, "wb") as fh:
        fh.write(b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info)
        number, done = 0, 0
        while done < total:
            n = min(block, total - done)
            # sync, fixed blocking; block size in 16 bits at the end; rate from STREAMINFO;
            # independent channels, 16 bits per sample
            head = bytes([0xFF, 0xF8, 0x70, ((channels - 1) << 4) | 0b1000])
            head += _utf8(number) + struct.pack(">H", n - 1)
            frame = head + bytes([_crc8(head)]) + subframe * channels
            fh.write(frame + struct.pack(">H", _crc16(frame)))
            number, done = number + 1, done + n


def write_normal(path: Path) -> None:
    """3 minutes of real music and speech: the dev mixtures (20 s each) one after another."""
    mixtures = sorted(DEV.glob("*/mixture.flac"))
    with sf.SoundFile(path, "w", 44100, 2, "PCM_24", format="FLAC") as out:
        for k in range(9):
            out.write(sf.read(mixtures[k % len(mixtures)], dtype="float32")[0])


def timed(check: Callable[[Path], AudioInfo], path: Path, repeat: int) -> tuple[float, str]:
    """Median seconds of ``check(path)`` and what it found (frames decoded, or the refusal)."""
    times, outcome = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            info = check(path)
        except AudioError as exc:
            outcome = f"refused: {exc}"
        else:
            whole = "whole" if info.complete else "start only"
            outcome = (
                f"accepted, {info.duration_s:.0f} s; decoded {info.checked_frames:,} ({whole})"
            )
        times.append(time.perf_counter() - started)
    return statistics.median(times), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per check (median)")
    parser.add_argument("--unbounded", action="store_true", help="also time probe() unlimited")
    args = parser.parse_args()
    print(
        f"limits: {settings.STEMWEB_MAX_DURATION_S} s, {settings.STEMWEB_MAX_CHANNELS} channels, "
        f"{settings.STEMWEB_MAX_SAMPLE_RATE} Hz; the web decodes at most "
        f"{settings.STEMWEB_UPLOAD_CHECK_S} s"
    )
    with tempfile.TemporaryDirectory(prefix="stemweb-bomb-") as tmp:
        files = {
            "normal 3 min": Path(tmp) / "normal.flac",
            "bomb, honest header": Path(tmp) / "bomb.flac",
            "bomb, no length": Path(tmp) / "bomb-unknown.flac",
            "bomb, says 10 min": Path(tmp) / "bomb-10min.flac",
            "bomb at the limits, 192 kHz, says 20 min": Path(tmp) / "bomb-192k.flac",
        }
        write_normal(files["normal 3 min"])
        write_flac_bomb(files["bomb, honest header"], **BOMB)
        write_flac_bomb(files["bomb, no length"], **BOMB, announce=0)
        write_flac_bomb(files["bomb, says 10 min"], **BOMB, announce=600 * BOMB["rate"])
        write_flac_bomb(
            files["bomb at the limits, 192 kHz, says 20 min"],
            **{**BOMB, "rate": 192000},
            announce=settings.STEMWEB_MAX_DURATION_S * 192000,
        )
        checks: dict[str, Callable[[Path], AudioInfo]] = {
            "web": check_upload,
            "worker": check_whole,
        }
        if args.unbounded:
            checks["unbounded"] = probe
        for name, path in files.items():
            print(f"\n{name} ({path.stat().st_size / 1024:,.0f} KB)")
            for label, check in checks.items():
                seconds, outcome = timed(check, path, 1 if label == "unbounded" else args.repeat)
                print(f"  {label:9} {seconds * 1000:9.1f} ms  {outcome}")


if __name__ == "__main__":
    main()
