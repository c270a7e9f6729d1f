"""Personal access tokens for the REST API: each one a person's, in one team, with a role.

A token is shown once when it is made; only its SHA-256 digest and a short prefix (to tell
tokens apart on the settings page) are stored.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.db import models

from accounts.models import Membership

Role = Membership.Role

# Marks a stemweb token, so secret scanners and people can tell it apart (not a secret).
TOKEN_PREFIX = "stw_"  # noqa: S105
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8


def token_generate() -> str:
    """A new token: ``stw_`` and 43 URL-safe characters holding 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(raw: str) -> str:
    """The hex SHA-256 of a token, the only form of it that is stored.

    A fast, unsalted hash is enough here, unlike for passwords: the token is 256 random bits,
    so no dictionary or brute force can invert the digest (a slow hash only helps
    low-entropy secrets), and an unsalted digest can be looked up by an index in one query
    per request. Someone who reads the table cannot use what they read.
    """
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A personal access token, scoped to the owner's membership of one team.

    It acts with the lower of its own ``role`` and the membership's role at the time of each
    request, so demoting the owner demotes their tokens; removing them from the team deletes
    the membership and, with it, their tokens.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    membership = models.ForeignKey(Membership, models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=Role.choices)
    prefix = models.CharField(max_length=SHOWN_PREFIX_LENGTH, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def effective_role(self) -> str:
        """The token's role, capped at the owner's current role in the team."""
        roles = (self.role, self.membership.role)
        return min(roles, key=Membership.RANK.__getitem__)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
