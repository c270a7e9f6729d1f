"""The job page's status poll: the ETag of what its fragment shows, and an unchanged poll
answered with a 304 before sessions, authentication, CSRF, messages and allauth run.

The full view (``jobs.views.jobs.job_detail``) does the access check (``job_for_user``) and, on
each poll of a running job's fragment, records a *grant* in the cache: this session key, signed
in as this user, may poll this job, for ``STEMWEB_POLL_GRANT_S`` seconds (0: never; every poll
then goes to the view). :class:`StatusPollMiddleware` sits right after Django's security
middleware (before CSP, WhiteNoise and sessions) and answers 304 only when all of these hold;
any other request goes on down the chain untouched:

- a ``GET`` of the ``job_detail`` URL with ``HX-Request: true``, ``If-None-Match`` and no
  ``part``, for a host in ``ALLOWED_HOSTS``;
- the session cookie names a live session (Django's ``SessionStore``, read from the cache as
  the session middleware reads it, in the same Redis round trip as the grant) signed in through
  one of ``AUTHENTICATION_BACKENDS``, and a grant for that session key and job names the
  session's user: a logged-out, expired or another browser's session has none;
- one query (:func:`poll_state`) finds the user still an active member of the job's team, and
  the session's auth hash still matches the user's password as Django's ``get_user`` checks
  it: a password changed elsewhere, a deactivated user or a removed member falls through to the
  view at once, which logs out or answers 404;
- the job is not over, and the ETag of its row (:func:`status_etag`, the same as the view's)
  matches ``If-None-Match`` (``stemweb.lib.conditional.not_modified``, Django's
  ``get_conditional_response``): a changed job goes to the view, which renders the new fragment
  and grants again.

So the grant only lets the middleware repeat what the view decided for that session at most
``STEMWEB_POLL_GRANT_S`` ago, and everything that could have changed since is read again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.cache import cache as default_cache
from django.db import connections, router
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.expressions import Expression
from django.db.models.sql import Query
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils.cache import patch_vary_headers
from django.utils.crypto import constant_time_compare

from accounts.access import AuthenticatedHttpRequest
from accounts.models import Membership, Team, User
from jobs.models import SeparationJob
from stemweb.lib.conditional import fragment_etag, not_modified

# What the status fragment shows of the job's own row; with its team's review rule and the
# viewer's staff flag, the ETag is a hash of these.
JOB_FIELDS = ("status", "progress", "started", "finished", "error", "review_state", "review_note")


def status_etag(state: Mapping[str, Any], *, is_staff: bool) -> str:
    """A strong ``ETag`` (quoted) of what a running job's status fragment shows: ``state``'s
    :data:`JOB_FIELDS` (the job's status, progress, times, error and review) and
    ``requires_review`` (its team's), the viewer's staff flag and the template's source. The
    elapsed clock is not in it: ``static/js/polling.js`` ticks it from ``data-started``."""
    started, finished = state["started"], state["finished"]
    return fragment_etag(
        "jobs/job_detail.html",
        state["status"],
        f"{state['progress']:.3f}",
        started.isoformat() if started else "",
        finished.isoformat() if finished else "",
        state["error"],
        state["review_state"],
        state["review_note"],
        str(state["requires_review"]),
        str(is_staff),
    )


def job_etag(job: SeparationJob, *, is_staff: bool) -> str:
    """:func:`status_etag` of a loaded job (with its project and team)."""
    state = {field: getattr(job, field) for field in JOB_FIELDS}
    return status_etag(
        {**state, "requires_review": job.project.team.requires_review}, is_staff=is_staff
    )


def _grant_key(session_key: str, job_id: object) -> str:
    return f"poll-grant:{session_key}:{job_id}"


def poll_grant(request: AuthenticatedHttpRequest, job: SeparationJob) -> None:
    """Let :class:`StatusPollMiddleware` answer this session's unchanged polls of ``job`` for
    ``STEMWEB_POLL_GRANT_S`` seconds. Call it only once ``job_for_user`` let the user see
    the job."""
    session_key = request.session.session_key
    if settings.STEMWEB_POLL_GRANT_S > 0 and session_key:
        default_cache.set(
            _grant_key(session_key, job.pk), str(request.user.pk), settings.STEMWEB_POLL_GRANT_S
        )


class StatusPollMiddleware:
    """Answers an unchanged status poll with 304 before the session middleware (see the module
    docstring for when); goes right after ``SecurityMiddleware`` in ``MIDDLEWARE``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.not_modified(request)
        return response if response is not None else self.get_response(request)

    def not_modified(self, request: HttpRequest) -> HttpResponseBase | None:
        """The 304 for an unchanged poll by a granted session, else None."""
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if (
            request.method != "GET"
            or request.META.get("HTTP_HX_REQUEST") != "true"
            or "HTTP_IF_NONE_MATCH" not in request.META
            or not session_key
            or settings.STEMWEB_POLL_GRANT_S <= 0
            or "part" in request.GET
        ):
            return None
        job_id = _polled_job(request.path_info, settings.ROOT_URLCONF)
        if job_id is None:
            return None
        request.get_host()  # DisallowedHost (400), as CommonMiddleware raises it for the view
        session, granted_to = self._session_and_grant(session_key, job_id)
        user_id = session.get(SESSION_KEY)
        session_hash = session.get(HASH_SESSION_KEY)
        if (
            user_id is None
            or not session_hash
            or session.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS
            or granted_to != user_id
        ):
            return None
        state = poll_state(job_id, User._meta.pk.to_python(user_id))
        if state is None or not state["member"] or state["password"] is None:
            return None  # no such job, not a member now, or inactive: the view answers
        # get_user's check: the session's hash must be that of the password now (one made
        # with a SECRET_KEY_FALLBACKS key is the view's to rotate).
        if not constant_time_compare(
            session_hash, User(pk=user_id, password=state["password"]).get_session_auth_hash()
        ):
            return None
        if state["status"] in SeparationJob.TERMINAL:
            return None  # the view renders the final fragment, without a trigger
        response = not_modified(request, status_etag(state, is_staff=state["is_staff"]))
        if response is None or response.status_code != 304:
            return None
        patch_vary_headers(response, ("HX-Request", "Cookie"))  # as the view's 304 varies
        return response

    def _session_and_grant(
        self, session_key: str, job_id: uuid.UUID
    ) -> tuple[Mapping[str, Any], str | None]:
        """The session's data, as the session middleware would load it, and the user id the
        grant names (None without one). With the ``cached_db`` sessions in the default cache
        (the settings'), both come from one Redis round trip; a session not in the cache is
        loaded from the database as Django loads it."""
        store = self.session_store(session_key)
        grant_key = _grant_key(session_key, job_id)
        if store.session_key is None or not _sessions_in_default_cache():
            return store.load(), default_cache.get(grant_key)  # an invalid key loads as {}
        found = default_cache.get_many([store.cache_key, grant_key])
        data = found.get(store.cache_key)
        return (store.load() if data is None else data), found.get(grant_key)


@cache
def _sessions_in_default_cache() -> bool:
    return (
        settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
        and settings.SESSION_CACHE_ALIAS == "default"
    )


@lru_cache(maxsize=4096)
def _polled_job(path: str, urlconf: str) -> uuid.UUID | None:
    """The job id when ``path`` is a job page's, else None. Resolved once per path: trying the
    site's URL patterns in turn cost a tenth of an answered poll."""
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    return match.kwargs["job_id"] if match.url_name == "job_detail" else None


# --- The middleware's one query ----------------------------------------------------------------
def _state_queryset(job_id: uuid.UUID, user_id: int) -> Any:
    """The job's :data:`JOB_FIELDS` by primary key, its team's ``requires_review``, whether
    ``user_id`` is a member of that team (the unique membership), and the user's password hash
    (None when inactive: the authentication backends refuse inactive users) and staff flag.
    Scalar subqueries rather than joins: planning a five-table join took PostgreSQL 0.7 ms of
    CPU a poll, this 0.3 ms."""
    team = OuterRef("project__team_id")
    user = User.objects.filter(pk=user_id)
    return (
        SeparationJob.objects.filter(pk=job_id)
        .order_by()
        .annotate(
            requires_review=Subquery(
                Team.objects.filter(pk=team).order_by().values("requires_review")
            ),
            member=Exists(Membership.objects.filter(team=team, user_id=user_id)),
            password=Subquery(user.filter(is_active=True).values("password")),
            is_staff=Subquery(user.values("is_staff")),
        )
        .values_list(*JOB_FIELDS, "requires_review", "member", "password", "is_staff")
    )


@dataclass(frozen=True)
class _Compiled:
    """:func:`_state_queryset` as the ORM compiles it for one database: its SQL, parameters
    (where the two ids go), column names and expressions, and whether the backend converts any
    of the values (PostgreSQL: none of these)."""

    query: Query
    sql: str
    params: tuple[Any, ...]
    job_at: tuple[int, ...]
    user_at: tuple[int, ...]
    names: tuple[str, ...]
    columns: tuple[Expression, ...]
    converted: bool


_ANY_JOB, _ANY_USER = uuid.UUID(int=1), -1  # placeholders, found again among the parameters


@cache
def _compiled(alias: str) -> _Compiled:
    connection = connections[alias]
    query = _state_queryset(_ANY_JOB, _ANY_USER).using(alias).query
    compiler = query.get_compiler(alias)
    sql, params = compiler.as_sql()
    job = SeparationJob._meta.pk.get_db_prep_value(_ANY_JOB, connection)
    user = User._meta.pk.get_db_prep_value(_ANY_USER, connection)
    job_at = tuple(i for i, p in enumerate(params) if type(p) is type(job) and p == job)
    user_at = tuple(i for i, p in enumerate(params) if type(p) is type(user) and p == user)
    if not job_at or not user_at:
        raise RuntimeError(f"the poll's ids are not among the query's parameters: {params}")
    columns = tuple(column for column, _, _ in compiler.select[: compiler.col_count])
    return _Compiled(
        query=query,
        sql=sql,
        params=tuple(params),
        job_at=job_at,
        user_at=user_at,
        names=(*query.extra_select, *query.values_select, *query.annotation_select),
        columns=columns,
        converted=bool(compiler.get_converters(columns)),
    )


def poll_state(job_id: uuid.UUID, user_id: int) -> dict[str, Any] | None:
    """The row of :func:`_state_queryset` by column name, or None when there is no such job.

    Building and compiling the query through the ORM costs more CPU than running it (1.1 ms
    against 0.2 ms here, on the site's most frequent request), so the ORM compiles it once per
    process and database (:func:`_compiled`), and each call runs that SQL with the two ids
    prepared as the ORM prepares them and converts the values as the ORM converts them."""
    alias = router.db_for_read(SeparationJob)
    connection = connections[alias]
    compiled = _compiled(alias)
    params = list(compiled.params)
    for i in compiled.job_at:
        params[i] = SeparationJob._meta.pk.get_db_prep_value(job_id, connection)
    for i in compiled.user_at:
        params[i] = User._meta.pk.get_db_prep_value(user_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if compiled.converted:
        compiler = compiled.query.get_compiler(connection=connection)
        row = next(compiler.apply_converters([row], compiler.get_converters(compiled.columns)))
    return dict(zip(compiled.names, row, strict=True))
