"""The job page's status poll: an ``ETag`` of what its fragment shows, bound to the browser
session that asked, and an unchanged poll answered with a 304 before sessions,
authentication, CSRF, messages and allauth run.

The job view (``jobs.views.jobs.job_detail``) does the access check (``job_for_user``) and gives
a running job's status fragment the ETag of :func:`status_etag`: ``"<user id>.<MAC>"``, where
the MAC (Django's ``salted_hmac``, SHA-256, keyed with ``SECRET_KEY``) covers what the fragment
shows and binds the job, the user, the session key and the session's auth hash (Django's
``get_session_auth_hash``, from the password). The browser sends it back in ``If-None-Match``.

:class:`StatusPollMiddleware` sits right after Django's security middleware (before CSP,
WhiteNoise and sessions) and answers 304 only when all of these hold; any other request goes on
down the chain untouched:

- a ``GET`` of the ``job_detail`` URL, no query string, with ``HX-Request: true``, a session
  cookie and an ``If-None-Match`` of that shape (the user id is read from it), for a host in
  ``ALLOWED_HOSTS``, with ``STEMWEB_POLL_SHORTCUT`` on and database-backed sessions (``db``
  or ``cached_db``);
- one query (:func:`poll_state`) finds the cookie's session row unexpired (logging out deletes
  it), the user still an active member of the job's team, and the job not over;
- the ETag made from that row, that session key and the user's password now equals
  ``If-None-Match`` (compared in constant time; a request with ``If-Match`` or
  ``If-Unmodified-Since`` goes to the view, whose ``get_conditional_response`` weighs them).
  So a changed job, another browser's session (another key), a password changed elsewhere
  (another auth hash) or a forged ETag (no ``SECRET_KEY``) all go to the view, which renders,
  logs out or answers 404.

A session key belongs to one user for its life (Django's ``login`` cycles it), and the view
made the ETag for that session once it was authenticated, so the middleware repeats the view's
decision with everything that could have changed since read again, and no Redis round trip.
This rests on one rule the rest of stemweb keeps: a session stops being signed in only by
losing its row or its key (Django's ``logout``, ``login``, ``update_session_auth_hash`` and
allauth's flows all flush or cycle), never by editing the data behind an unchanged key. The
configured ``AUTHENTICATION_BACKENDS`` are in the MAC too, so removing one sends every poll to
the view. Should the query fail (a pooler that lost the prepared statement, say), the poll is
logged and left to the view.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import psycopg
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import DatabaseError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.expressions import Expression
from django.db.models.functions import Now
from django.db.models.sql import Query
from django.http import HttpRequest, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils.cache import patch_vary_headers
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.module_loading import import_string

from accounts.access import AuthenticatedHttpRequest
from accounts.models import Membership, Team, User
from jobs.models import SeparationJob
from stemweb.lib.conditional import revalidate, template_digest

# What the status fragment shows of the job's own row; with its team's review rule and the
# viewer's staff flag, the ETag covers these.
JOB_FIELDS = ("status", "progress", "started", "finished", "error", "review_state", "review_note")
_SALT = "stemweb.jobs.polling.status_etag"
logger = logging.getLogger(__name__)
_ETAG = re.compile(r'"(\d{1,18})\.[0-9a-f]{32}"')


def status_etag(
    state: Mapping[str, Any], *, job_id: object, user_id: object, session_key: str, auth_hash: str
) -> str:
    """A strong ``ETag`` (quoted), ``"<user id>.<32 hex>"``, of what a running job's status
    fragment shows to this session: ``state``'s :data:`JOB_FIELDS` (status, progress, times,
    error, review), ``requires_review`` (its team's) and ``is_staff`` (the viewer's), the
    template's source, and the job, user, session key and session auth hash it was made for.
    The elapsed clock is not in it: ``static/js/polling.js`` ticks it from ``data-started``."""
    started, finished = state["started"], state["finished"]
    message = "\x1f".join(
        (
            template_digest("jobs/job_detail.html"),
            "|".join(settings.AUTHENTICATION_BACKENDS),
            str(job_id),
            str(user_id),
            session_key,
            auth_hash,
            state["status"],
            f"{state['progress']:.3f}",
            started.isoformat() if started else "",
            finished.isoformat() if finished else "",
            state["error"],
            state["review_state"],
            state["review_note"],
            str(state["requires_review"]),
            str(state["is_staff"]),
        )
    )
    mac = salted_hmac(_SALT, message, algorithm="sha256").hexdigest()[:32]
    return f'"{user_id}.{mac}"'


def job_etag(request: AuthenticatedHttpRequest, job: SeparationJob) -> str:
    """:func:`status_etag` of a loaded job (with its project and team) for the request's
    signed-in session. Call it only once ``job_for_user`` let the user see the job."""
    state = {field: getattr(job, field) for field in JOB_FIELDS}
    state |= {
        "requires_review": job.project.team.requires_review,
        "is_staff": request.user.is_staff,
    }
    return status_etag(
        state,
        job_id=job.pk,
        user_id=request.user.pk,
        session_key=request.session.session_key or "",
        auth_hash=request.user.get_session_auth_hash(),
    )


class StatusPollMiddleware:
    """Answers an unchanged status poll with 304 before the session middleware (see the module
    docstring for when); goes right after ``SecurityMiddleware`` in ``MIDDLEWARE``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.not_modified(request)
        return response if response is not None else self.get_response(request)

    def not_modified(self, request: HttpRequest) -> HttpResponseBase | None:
        """The 304 for an unchanged poll of a session the view gave its ETag, else None."""
        meta = request.META
        if (
            request.method != "GET"
            or meta.get("HTTP_HX_REQUEST") != "true"
            or "HTTP_IF_MATCH" in meta  # preconditions that can fail: the view checks them
            or "HTTP_IF_UNMODIFIED_SINCE" in meta
            or not settings.STEMWEB_POLL_SHORTCUT
            or not _database_sessions(settings.SESSION_ENGINE)
        ):
            return None
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        sent = _ETAG.fullmatch(meta.get("HTTP_IF_NONE_MATCH", "").strip())
        if not session_key or sent is None or meta.get("QUERY_STRING"):  # ?part=, ...: the view
            return None
        job_id = _polled_job(request.path_info, settings.ROOT_URLCONF)
        if job_id is None:
            return None
        request.get_host()  # DisallowedHost (400), as CommonMiddleware raises it for the view
        user_id = int(sent[1])
        try:
            state = poll_state(job_id, user_id, session_key)
        except DatabaseError:
            logger.warning("status poll: the early answer's query failed; the view answers it",
                           exc_info=True)  # fmt: skip
            return None
        if state is None:  # no such job
            return None
        etag = status_etag(
            state,
            job_id=job_id,
            user_id=user_id,
            session_key=session_key,
            auth_hash=_session_auth_hash(state["password"] or "", settings.SECRET_KEY),
        )
        # RFC 9110 §13.1.2; a MAC, so compared in constant time, and every check is made before
        # deciding, so the time taken does not tell which of them failed.
        if not (
            constant_time_compare(sent[0], etag)
            & bool(state["session"])  # not logged out or expired
            & bool(state["member"])
            & (state["password"] is not None)  # inactive: the authentication backends refuse
            & (state["status"] not in SeparationJob.TERMINAL)  # the final fragment: no trigger
        ):
            return None
        response = revalidate(HttpResponseNotModified(), etag)  # the view's 304 and headers
        patch_vary_headers(response, ("HX-Request", "Cookie"))  # as the view's 304 varies
        return response


@cache
def _database_sessions(engine: str) -> bool:
    """Whether the session engine keeps every session as a row (``db``, ``cached_db``): the
    only place the middleware looks for the cookie's session."""
    return issubclass(import_string(f"{engine}.SessionStore"), DatabaseSessionStore)


@lru_cache(maxsize=1024)
def _session_auth_hash(password: str, secret_key: str) -> str:
    """Django's ``AbstractBaseUser.get_session_auth_hash`` of a password hash (it depends on
    nothing else but ``SECRET_KEY``), computed once per password per process."""
    return User(password=password).get_session_auth_hash()


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
# Placeholders, found again among the compiled query's parameters, and how often each occurs.
_ANY_JOB, _ANY_USER = uuid.UUID("5e1ec7ed-0000-4000-8000-00000000d0b1"), -7_357_913
_ANY_SESSION = "\x00stemweb-poll-session\x00"
_SLOTS = {"job": 1, "user": 3, "session": 1}


def _state_queryset(job_id: uuid.UUID, user_id: int, session_key: str) -> Any:
    """The job's :data:`JOB_FIELDS` by primary key, its team's ``requires_review``, whether the
    session row ``session_key`` is there and unexpired, whether ``user_id`` is a member of the
    job's team (the unique membership), and the user's password hash (None when inactive) and
    staff flag. Scalar subqueries rather than joins: planning a five-table join took PostgreSQL
    0.7 ms of CPU a poll, this 0.3 ms (and 0.06 ms prepared, :class:`_PreparedCursor`)."""
    team = OuterRef("project__team_id")
    user = User.objects.filter(pk=user_id)
    sessions = import_string(f"{settings.SESSION_ENGINE}.SessionStore").get_model_class().objects
    return (
        SeparationJob.objects.filter(pk=job_id)
        .order_by()
        .annotate(
            session=Exists(sessions.filter(session_key=session_key, expire_date__gt=Now())),
            requires_review=Subquery(
                Team.objects.filter(pk=team).order_by().values("requires_review")
            ),
            member=Exists(Membership.objects.filter(team=team, user_id=user_id)),
            password=Subquery(user.filter(is_active=True).values("password")),
            is_staff=Subquery(user.values("is_staff")),
        )
        .values_list(*JOB_FIELDS, "session", "requires_review", "member", "password", "is_staff")
    )


@dataclass(frozen=True)
class _Compiled:
    """:func:`_state_queryset` as the ORM compiles it for one database: its SQL, parameters
    (where the ids and the session key go), column names and expressions, and whether the
    backend converts any of the values (PostgreSQL: none of these)."""

    query: Query
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]  # (parameter index, "job" | "user" | "session")
    names: tuple[str, ...]
    columns: tuple[Expression, ...]
    converted: bool


@cache
def _compiled(alias: str) -> _Compiled:
    connection = connections[alias]
    query = _state_queryset(_ANY_JOB, _ANY_USER, _ANY_SESSION).using(alias).query
    compiler = query.get_compiler(alias)
    sql, params = compiler.as_sql()
    placeholders = {
        "job": SeparationJob._meta.pk.get_db_prep_value(_ANY_JOB, connection),
        "user": User._meta.pk.get_db_prep_value(_ANY_USER, connection),
        "session": _ANY_SESSION,
    }
    slots = tuple(
        (i, name)
        for i, param in enumerate(params)
        for name, value in placeholders.items()
        if type(param) is type(value) and param == value
    )
    found = {name: sum(1 for _, slot in slots if slot == name) for name in placeholders}
    if found != _SLOTS:
        raise RuntimeError(f"the poll's keys are not where expected among {params}: {found}")
    columns = tuple(column for column, _, _ in compiler.select[: compiler.col_count])
    names = (*query.extra_select, *query.values_select, *query.annotation_select)
    if len(names) != len(columns):
        raise RuntimeError(f"the poll's columns {names} are not what it selects: {columns}")
    return _Compiled(
        query=query,
        sql=sql,
        params=tuple(params),
        slots=slots,
        names=names,
        columns=columns,
        converted=bool(compiler.get_converters(columns)),
    )


class _PreparedCursor(psycopg.Cursor[Any]):
    """A psycopg cursor with server-side binding that prepares every statement it runs, for
    the poll's one query only: prepared, PostgreSQL spends 0.06 ms of CPU on it instead of
    0.19-0.26 ms parsing and planning it each time. psycopg prepares only with a
    ``prepare_threshold`` on the connection: Django leaves it None (no statement is prepared,
    to suit connection poolers) unless ``OPTIONS`` sets one, as the settings do on PostgreSQL
    unless ``STEMWEB_DB_PREPARE=false`` (then this cursor prepares nothing either). Behind
    PgBouncer in transaction mode, preparing needs PgBouncer 1.21+ with
    ``max_prepared_statements`` set."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return super().execute(query, params, **{**kwargs, "prepare": True})


def _cursor(connection: BaseDatabaseWrapper) -> Any:
    """A cursor for the poll's query: on PostgreSQL a :class:`_PreparedCursor` on Django's own
    connection, wrapped as Django wraps its cursors (errors, query logging, execute wrappers);
    elsewhere Django's cursor."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _PreparedCursor(connection.connection)
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    return wrapper(raw, connection)  # as BaseDatabaseWrapper.make_(debug_)cursor wrap theirs


def poll_state(job_id: uuid.UUID, user_id: int, session_key: str) -> dict[str, Any] | None:
    """The row of :func:`_state_queryset` by column name, or None when there is no such job.
    Raises Django's ``DatabaseError`` when the query fails (outside a transaction, after closing
    the connection, so the next use opens a new one).

    Building and compiling the query through the ORM costs more CPU than running it (1.1 ms
    against 0.2 ms here, on the site's most frequent request), so the ORM compiles it once per
    process and database (:func:`_compiled`), and each call runs that SQL with the keys
    prepared as the ORM prepares them and converts the values as the ORM converts them."""
    alias = router.db_for_read(SeparationJob)
    connection = connections[alias]
    compiled = _compiled(alias)
    params = list(compiled.params)
    values = {
        "job": SeparationJob._meta.pk.get_db_prep_value(job_id, connection),
        "user": User._meta.pk.get_db_prep_value(user_id, connection),
        "session": session_key,
    }
    for i, name in compiled.slots:
        params[i] = values[name]
    # In a transaction (tests; ATOMIC_REQUESTS), a savepoint keeps a failure from breaking it.
    guard = transaction.atomic(using=alias) if connection.in_atomic_block else nullcontext()
    try:
        with guard, _cursor(connection) as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
    except DatabaseError:
        if not connection.in_atomic_block:
            connection.close()  # psycopg's record of what is prepared may be wrong: start anew
        raise
    if row is None:
        return None
    if compiled.converted:
        compiler = compiled.query.get_compiler(connection=connection)
        row = next(compiler.apply_converters([row], compiler.get_converters(compiled.columns)))
    return dict(zip(compiled.names, row, strict=True))
