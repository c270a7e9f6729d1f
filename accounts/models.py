"""Users, teams and memberships. Email is the login; every project belongs to a team."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models

from stemweb.lib.secretbox import decrypt, encrypt


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person. Logs in with ``email``; there is no username."""

    # Removes AbstractUser's field; django-stubs types ``username`` as a CharField only.
    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    # Settings → Notifications: an email when a job this person started ends (not canceled).
    email_when_job_ends = models.BooleanField("Email me when a job I started ends", default=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    # django-stubs types AbstractUser.objects as contrib.auth's username-based UserManager;
    # this email-only manager derives from BaseUserManager instead.
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email


class TeamQuerySet(models.QuerySet["Team"]):
    def for_user(self, user: User) -> TeamQuerySet:
        """Teams the user is a member of, in any role."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)


class Team(models.Model):
    """A group of people sharing projects. Addressed in URLs by ``public_id`` only."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    is_personal = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    # Where finished jobs are POSTed, signed with the secret (Standard Webhooks, HMAC-SHA256).
    webhook_url = models.URLField(max_length=500, blank=True)
    # The Standard Webhooks secret, encrypted at rest (see stemweb.lib.secretbox).
    webhook_secret_encrypted = models.TextField(blank=True)
    # Monthly quotas in each provider's unit; None means unlimited.
    quota_stem_seconds = models.FloatField(null=True, blank=True)  # local, CAMB.AI, FineVoice
    quota_credits = models.FloatField(null=True, blank=True)  # Suno-style
    # Staff approve each succeeded job before its stems can be downloaded or sent to the webhook.
    requires_review = models.BooleanField(default=False)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def webhook_secret(self) -> str:
        return decrypt(self.webhook_secret_encrypted) if self.webhook_secret_encrypted else ""

    @webhook_secret.setter
    def webhook_secret(self, value: str) -> None:
        self.webhook_secret_encrypted = encrypt(value) if value else ""


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        MEMBER = "member", "Member"
        ADMIN = "admin", "Admin"
        OWNER = "owner", "Owner"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    RANK: ClassVar[dict[str, int]] = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}

    def has_role(self, role: str) -> bool:
        """True when this membership's role is ``role`` or above it."""
        return self.RANK[self.role] >= self.RANK[role]

    @property
    def can_upload(self) -> bool:
        return self.has_role(self.Role.MEMBER)

    @property
    def can_manage(self) -> bool:
        return self.has_role(self.Role.ADMIN)

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


class Invitation(models.Model):
    """An invitation to join a team with a role, sent by email as a signed, expiring link."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(User, models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    accepted = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.email} to {self.team} as {self.role}"


class ProviderKey(models.Model):
    """A team's own API key for a provider, overriding the site's. Encrypted at rest; only its
    last four characters are ever shown again."""

    team = models.ForeignKey(Team, models.CASCADE, related_name="provider_keys")
    provider = models.CharField(max_length=32)
    key_encrypted = models.TextField()
    last4 = models.CharField(max_length=4)
    updated_by = models.ForeignKey(User, models.SET_NULL, null=True, related_name="+")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "provider"], name="one_key_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.team}: {self.provider} …{self.last4}"

    def reveal(self) -> str:
        """The plain key, for the worker that calls the provider. Never render it."""
        return decrypt(self.key_encrypted)
