"""Sources reserved for evaluation: the corpus never takes audio from them.

Reserved by issue 21 so that quality can be measured on recordings no training or design choice
has seen: the held-out set is built from these packages, and ``../shared/audio/dev`` from
several of them. A source is refused by its package name (shell-style patterns) or, whatever
package carries it, by the name of a reserved recording collection in its file paths.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

DEBIAN = (
    "fretsonfire*",
    "hyperrogue*",
    "csmash*",
    "asterisk-core-sounds-en-*",
    "asterisk-extra-sounds-en-*",
    "asterisk-core-sounds-fr-*",
    "csound*",
    "fillets-ng-data-cs",
    "alsa-utils",
    "supercollider*",
    "puredata*",
)
PYPI = ("basic-pitch", "pysptk")
# CMU ARCTIC (cmu_us_<speaker>_arctic, arctic_a0001.wav, ...) and vocadito, in any package.
RECORDINGS = ("arctic", "vocadito")


class ReservedSource(ValueError):
    """A source the corpus must not use; the message names the rule it broke."""


def _pypi_name(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def refuse_reserved(registry: str, package: str, path: str = "") -> None:
    """Raise :class:`ReservedSource` when (``registry``, ``package``, ``path``) is reserved.

    Args:
        registry: ``"debian"`` or ``"pypi"``.
        package: the package's name as the registry spells it.
        path: a file inside the package (its path after extraction), or empty.
    """
    if registry == "debian":
        for pattern in DEBIAN:
            if fnmatchcase(package, pattern):
                raise ReservedSource(f"Debian package {package} is reserved ({pattern})")
    elif registry == "pypi":
        if _pypi_name(package) in PYPI:
            raise ReservedSource(f"PyPI distribution {package} is reserved")
    else:
        raise ValueError(f"unknown registry {registry!r}")
    lowered = path.lower()
    for collection in RECORDINGS:
        if collection in lowered:
            raise ReservedSource(f"{path} looks like a {collection} recording, which is reserved")
