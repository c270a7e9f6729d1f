"""The lock files (requirements/*.txt, made by `make lock`) agree with pyproject.toml's ranges.

A range changed in pyproject.toml without `make lock` (or a lock edited by hand) fails here,
so no machine installs a set of packages that was never resolved from the project's ranges.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.fixtures import ROOT

PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?: ; (?P<marker>.+?))? \\$"
)


@dataclass
class Pin:
    version: str
    marker: str | None
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_lock(name: str) -> dict[str, list[Pin]]:
    """The pins of ``requirements/<name>``: each package's pins (one per marker), with their
    hashes and the ``# via`` annotations uv writes under them."""
    pins: dict[str, list[Pin]] = {}
    pin: Pin | None = None
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        stripped = line.strip()
        if match := PIN.match(line):
            pin = Pin(match["version"], match["marker"])
            pins.setdefault(canonicalize_name(match["name"]), []).append(pin)
        elif pin is not None and stripped.startswith("--hash=sha256:"):
            pin.hashes.append(stripped.removeprefix("--hash=sha256:").rstrip(" \\"))
        elif pin is not None and stripped.startswith("#") and stripped not in ("# via", "#"):
            pin.via.append(stripped.lstrip("# ").removeprefix("via ").strip())
        else:
            assert not stripped or stripped.startswith("#"), f"{name}: unexpected line {line!r}"
    return pins


def declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    if extra:
        requirements += project["optional-dependencies"][extra]
    return [Requirement(text) for text in requirements]


def applicable(pins: list[Pin]) -> Pin:
    """The one pin whose marker holds for this interpreter (the lock is universal)."""
    matching = [pin for pin in pins if pin.marker is None or Marker(pin.marker).evaluate()]
    assert len(matching) == 1, f"{len(matching)} pins apply here: {pins}"
    return matching[0]


@pytest.mark.parametrize(("lock", "extra"), [("app.txt", None), ("dev.txt", "dev")])
def test_the_lock_pins_exactly_what_pyproject_asks_for_within_its_ranges(lock, extra):
    pins = read_lock(lock)
    wanted = {canonicalize_name(req.name): req for req in declared(extra)}

    direct = {
        name
        for name, entries in pins.items()
        if any("stemweb (pyproject.toml)" in via for pin in entries for via in pin.via)
    }
    assert direct == set(wanted), "pyproject.toml and the lock disagree: run `make lock`"
    for name, req in wanted.items():
        version = applicable(pins[name]).version
        assert req.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside {req.specifier}: run `make lock`"
        )


@pytest.mark.parametrize("lock", ["app.txt", "dev.txt"])
def test_every_pin_is_exact_and_hashed(lock):
    pins = read_lock(lock)
    assert pins
    for name, entries in pins.items():
        for pin in entries:
            assert pin.hashes, f"{name}=={pin.version} has no hash"
            assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in pin.hashes)


def test_the_app_runs_on_the_versions_the_suite_tested():
    """What production installs (app.txt) is what `make test` installed (dev.txt)."""
    app, dev = read_lock("app.txt"), read_lock("dev.txt")
    for name, entries in app.items():
        assert name in dev, f"{name} is in app.txt but not dev.txt"
        assert [(pin.version, pin.marker) for pin in entries] == [
            (pin.version, pin.marker) for pin in dev[name]
        ], f"{name}: app.txt and dev.txt pin different versions"
