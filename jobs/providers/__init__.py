"""The registry of separation providers, keyed like ``SeparationJob.provider``."""

from __future__ import annotations

from jobs.providers.base import Provider
from jobs.providers.camb import CambProvider
from jobs.providers.finevoice import FineVoiceProvider
from jobs.providers.local import LocalProvider
from jobs.providers.suno import SunoProvider

PROVIDERS: dict[str, type[Provider]] = {
    provider.key: provider
    for provider in (LocalProvider, CambProvider, FineVoiceProvider, SunoProvider)
}


def get_provider(key: str) -> Provider:
    """The provider registered under ``key``. Raises KeyError for an unknown key."""
    return PROVIDERS[key]()


def configured_providers(team=None) -> list[Provider]:  # type: ignore[no-untyped-def]
    """Providers that can take jobs for ``team`` (its own keys count), in registry order.

    One query for the team's keys, whatever the number of providers.
    """
    from accounts.models import ProviderKey

    own = (
        set(ProviderKey.objects.filter(team=team).values_list("provider", flat=True))
        if team
        else set()
    )
    return [
        provider
        for cls in PROVIDERS.values()
        if (provider := cls()).is_configured(has_team_key=cls.key in own)
    ]
