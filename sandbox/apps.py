from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The providers' sandboxes on loopback (``manage.py sandbox``); installed only when
    ``STEMWEB_SANDBOX`` is on, so production images can leave it out."""

    name = "sandbox"
