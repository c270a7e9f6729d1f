"""The sandbox's URLconf: every registered provider's ``providers.<key>.sandbox.urlpatterns``
(CAMB under /camb/apis/, FineVoice under /finevoice/, Suno-style under /suno/), and result files
under /files/."""

from importlib.util import find_spec

from django.urls import URLPattern, URLResolver, include, path

from providers.registry import PROVIDERS
from providers.sandboxing.common import serve_file

urlpatterns: list[URLPattern | URLResolver] = [
    path("files/<str:task_id>/<str:name>.flac", serve_file)
]
urlpatterns += [
    path("", include(f"providers.{key}.sandbox"))
    for key in PROVIDERS
    if find_spec(f"providers.{key}.sandbox") is not None
]
