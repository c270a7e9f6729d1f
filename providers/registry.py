"""The registry of separation providers: a key (stored on ``SeparationJob.provider``) to the
dotted path of its client class, imported on first use (as healthchecks maps a channel kind to
its transport), so that nothing imports every provider to learn about one.

Adding a provider: a folder ``providers/<key>/`` with ``client.py`` (a ``Provider`` subclass)
and, for the sandbox, ``sandbox.py``; one line here; its settings in ``STEMWEB_PROVIDERS``.
"""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from providers.base import Provider

PROVIDERS: dict[str, str] = {
    "local": "providers.local.client.LocalProvider",
    "camb": "providers.camb.client.CambProvider",
    "finevoice": "providers.finevoice.client.FineVoiceProvider",
    "suno": "providers.suno.client.SunoProvider",
}


@cache
def provider_class(key: str) -> type[Provider]:
    """The client class registered under ``key``. Raises KeyError for an unknown key."""
    return import_string(PROVIDERS[key])


def get_provider(key: str) -> Provider:
    """A client for the provider ``key``. Raises KeyError for an unknown key."""
    return provider_class(key)()


def all_providers() -> list[Provider]:
    """One client of each registered provider, in registry order."""
    return [get_provider(key) for key in PROVIDERS]


def provider_label(key: str) -> str:
    """The provider's name for people; the key itself when it is not registered (any more)."""
    return provider_class(key).label if key in PROVIDERS else key


def provider_choices() -> list[tuple[str, str]]:
    """(key, label) of every provider, for filters and forms."""
    return [(key, provider_label(key)) for key in PROVIDERS]
