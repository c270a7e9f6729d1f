"""The registry of separation providers, keyed like ``SeparationJob.provider``."""

from __future__ import annotations

from jobs.providers.base import Provider
from jobs.providers.local import LocalProvider

PROVIDERS: dict[str, type[Provider]] = {
    LocalProvider.key: LocalProvider,
}


def get_provider(key: str) -> Provider:
    """The provider registered under ``key``. Raises KeyError for an unknown key."""
    return PROVIDERS[key]()


def configured_providers() -> list[Provider]:
    """Providers that can take jobs on this installation, in registry order."""
    return [p for cls in PROVIDERS.values() if (p := cls()).is_configured()]
