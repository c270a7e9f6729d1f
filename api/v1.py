"""The REST API, version 1: django-ninja, mounted at /api/v1/ with its OpenAPI document at
/api/v1/openapi.json and Swagger UI at /api/v1/docs (served from django-ninja's bundled static
files: no CDN, no inline script, so the strict Content-Security-Policy holds)."""

from __future__ import annotations

from csp.decorators import csp_update
from django.http import HttpRequest
from ninja import NinjaAPI, Swagger
from ninja.openapi.schema import OpenAPISchema
from ninja.security import HttpBearer
from ninja.types import DictStrAny

from api import problems
from api.access import Caller, caller_for, require_token_rate
from api.endpoints import router
from api.problems import CONTENT_TYPE
from api.services import token_touch


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``: a personal access token (Settings → API tokens).

    Each authenticated request counts against the token's rate limit (429 past it) and
    records when the token was last used (at most once a minute)."""

    def authenticate(self, request: HttpRequest, token: str) -> Caller | None:
        caller = caller_for(request)  # the same header; looked up once per request
        if caller is None:
            return None
        request.user = caller.membership.user
        require_token_rate(caller)
        token_touch(token=caller.token)
        return caller


class StemwebAPI(NinjaAPI):
    """django-ninja's API, whose OpenAPI document gives errors their real media type."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: DictStrAny | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        response["content"] = {CONTENT_TYPE: content["application/json"]}
        return schema


class SwaggerPage(Swagger):
    """django-ninja's Swagger UI page, made to pass axe-core: stemweb's template declares the
    page's language and darkens three colours (static/css/api-docs.css), and deep links are
    off (Swagger UI puts each operation's link inside its expand button)."""

    template = "api/swagger.html"


api = StemwebAPI(
    title="stemweb API",
    version="1",
    description=(
        "Upload recordings, run separation jobs and download their stems. Authenticate with a "
        "personal access token from Settings → API tokens: `Authorization: Bearer stw_…`. A "
        "token belongs to one team and acts with the lower of its role and its owner's role "
        "there. Errors are `application/problem+json` (RFC 9457): 401 without a valid token, "
        "404 for anything outside the token's team, 403 for a role too low, 422 for input "
        "that does not validate or a job that cannot run, 429 over a rate limit "
        "(`Retry-After` says when to try again)."
    ),
    urls_namespace="api-v1",
    auth=TokenAuth(),
    docs_url="/docs",
    docs=SwaggerPage(settings={"deepLinking": False}),
    # Swagger UI's stylesheet draws its select arrows and icons as data: SVG images.
    docs_decorator=csp_update({"img-src": ["'self'", "data:"]}),
    openapi_url="/openapi.json",
)
problems.register(api)
api.add_router("/", router)
