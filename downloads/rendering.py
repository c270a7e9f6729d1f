"""Stems in other formats (:mod:`downloads.formats`) and custom mixes, rendered once by a
worker and kept in storage, at the stem's own sample rate and channel count."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
from django.core.files import File
from django.db.models import Q
from django.utils import timezone

from audio.probe import probe, read_blocks
from downloads.formats import ENCODINGS
from downloads.models import CustomMix, Rendition
from jobs import queues
from jobs.models import SeparationJob, Stem
from jobs.services.recovery import grace
from stemweb.lib.storage import copy_to_local

if TYPE_CHECKING:
    from accounts.models import User

_PCM24_MAX = 1.0 - 2.0**-23
MAX_ATTEMPTS = 3
State = Rendition.State


def _writer(path: Path, fmt: str, sample_rate: int, channels: int) -> sf.SoundFile:
    return sf.SoundFile(str(path), "w", sample_rate, channels, **ENCODINGS[fmt])


def rendition_request(*, stem: Stem, fmt: str, retry_failed: bool = False) -> Rendition:
    """The stem's rendition in ``fmt``, queued for a worker when it does not exist yet, or when
    it failed and ``retry_failed`` (a person asked again; polls never retry)."""
    rendition, created = Rendition.objects.get_or_create(stem=stem, format=fmt)
    if created or (retry_failed and rendition.state == State.FAILED):
        Rendition.objects.filter(pk=rendition.pk).update(state=State.PENDING, error="", attempts=0)
        rendition.state = State.PENDING
        _hand_over(rendition, attempts=0)
    return rendition


def _hand_over(rendered: Rendition | CustomMix, *, attempts: int) -> bool:
    """Give a pending rendition or mix to RQ as attempt ``attempts + 1``, unless it changed
    since it was read; the task renders only for the newest attempt."""
    model = type(rendered)
    moved = model._default_manager.filter(
        pk=rendered.pk, state=State.PENDING, attempts=attempts
    ).update(attempts=attempts + 1, queued_at=timezone.now())
    if moved:
        task = queues.RENDER_STEM if model is Rendition else queues.RENDER_MIX
        queues.enqueue(task, rendered.pk, attempts + 1, queue=queues.LOCAL)
    return bool(moved)


def renders_recover(*, held: set[tuple[str, str]]) -> dict[str, int]:
    """Pending renditions and mixes with no task in RQ (Redis restarted empty, or the worker
    died while rendering) for ``STEMWEB_RECOVERY_GRACE_S``: handed over again, or failed after
    ``MAX_ATTEMPTS``."""
    counts = {"renders requeued": 0, "renders failed": 0}
    cutoff = timezone.now() - grace()
    for model, task in ((Rendition, queues.RENDER_STEM), (CustomMix, queues.RENDER_MIX)):
        stale = model._default_manager.filter(state=State.PENDING).filter(
            Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created__lt=cutoff)
        )
        for rendered in stale:
            if (task, str(rendered.pk)) in held:
                continue
            if rendered.attempts >= MAX_ATTEMPTS:
                rendered.mark_failed(RuntimeError(f"the worker lost it {MAX_ATTEMPTS} times"))
                counts["renders failed"] += 1
            else:
                counts["renders requeued"] += _hand_over(rendered, attempts=rendered.attempts)
    return counts


def _current(rendered: Rendition | CustomMix, attempt: int | None) -> bool:
    """Whether a task for ``attempt`` should render: pending, and not superseded by a newer
    hand-over (None: a task queued before attempts were counted)."""
    return rendered.state == State.PENDING and attempt in (None, rendered.attempts)


def render_rendition(*, rendition_id: int, attempt: int | None = None) -> None:
    rendition = Rendition.objects.select_related("stem__job__project__team").get(pk=rendition_id)
    if not _current(rendition, attempt):
        return
    stem = rendition.stem
    try:
        with tempfile.TemporaryDirectory(prefix="stemweb-render-") as tmp:
            source = copy_to_local(stem.file, Path(tmp) / f"in.{stem.format}")
            info = probe(source)
            out = Path(tmp) / f"{stem.name}.{rendition.format}"
            with _writer(out, rendition.format, info.sample_rate, info.channels) as writer:
                for block in read_blocks(source, info):
                    writer.write(np.clip(block, -1.0, _PCM24_MAX))
            with open(out, "rb") as fh:
                rendition.file.save(
                    f"renditions/{stem.name}.{rendition.format}", File(fh), save=False
                )
            rendition.size_bytes = out.stat().st_size
            rendition.state = State.READY
            rendition.save()
    except Exception as exc:
        rendition.mark_failed(exc)
        raise


def mix_create(
    *, job: SeparationJob, name: str, gains_db: dict[str, float], fmt: str, user: User
) -> CustomMix:
    """Queue a custom mix of the job's stems; stems missing from ``gains_db`` are left out."""
    known = set(job.stems.values_list("name", flat=True))
    gains = {
        stem: float(gain)
        for stem, gain in gains_db.items()
        if stem in known and math.isfinite(float(gain))
    }
    if not gains:
        raise ValueError("Pick at least one stem for the mix.")
    mix = CustomMix.objects.create(
        job=job, name=name[:100] or "Custom mix", gains_db=gains, format=fmt, created_by=user
    )
    _hand_over(mix, attempts=0)
    return mix


def render_custom_mix(*, mix_id: int, attempt: int | None = None) -> None:
    """Sum the chosen stems at their gains (dB) block by block, clip to full scale, encode."""
    mix = CustomMix.objects.select_related("job__project__team").get(pk=mix_id)
    if not _current(mix, attempt):
        return
    stems = {s.name: s for s in mix.job.stems.all() if s.name in mix.gains_db}
    try:
        with tempfile.TemporaryDirectory(prefix="stemweb-mix-") as tmp:
            paths = {
                name: copy_to_local(s.file, Path(tmp) / f"{name}.{s.format}")
                for name, s in stems.items()
            }
            readers = {name: sf.SoundFile(str(p)) for name, p in paths.items()}
            first = next(iter(readers.values()))
            out = Path(tmp) / f"mix.{mix.format}"
            try:
                with _writer(out, mix.format, first.samplerate, first.channels) as writer:
                    while True:
                        total = None
                        for name, reader in readers.items():
                            block = reader.read(65536, dtype="float32", always_2d=True)
                            if len(block) == 0:
                                continue
                            block = block * np.float32(10 ** (mix.gains_db[name] / 20))
                            if total is None:
                                total = block
                            else:
                                n = max(len(total), len(block))
                                total = np.pad(total, ((0, n - len(total)), (0, 0)))
                                total[: len(block)] += block
                        if total is None:
                            break
                        writer.write(np.clip(total, -1.0, _PCM24_MAX))
            finally:
                for reader in readers.values():
                    reader.close()
            with open(out, "rb") as fh:
                mix.file.save(f"{mix.name}.{mix.format}", File(fh), save=False)
            mix.size_bytes = out.stat().st_size
            mix.state = State.READY
            mix.save()
    except Exception as exc:
        mix.mark_failed(exc)
        raise
