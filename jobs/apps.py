from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Django's way to register system checks once the app registry is ready.
        from jobs import checks  # noqa: F401
