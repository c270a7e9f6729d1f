"""stemweb settings, read from environment variables with defaults that run on a fresh checkout
(SQLite, local files under var/, the local engine); ``stemweb.config`` parses them. Every
variable is listed in the README's Configuration table.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from stemweb.config import (
    env_bool,
    env_int,
    env_list,
    env_str,
    provider_config,
    s3_media_origins,
    s3_storage,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("STEMWEB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the SQLite default and generated keys live here


SECRET_KEY = secret_key(VAR_DIR)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "template_partials",
    "django_htmx",
    "csp",
    "django_rq",
    "allauth",
    "allauth.account",
    "ninja",  # its bundled Swagger UI files (static, no CDN) for /api/v1/docs
    "stemweb",  # its management commands: worker_alive, cron_alive (stemweb.health)
    "accounts",
    "library",
    "jobs",
    "downloads",
    "webhooks",
    "notifications",
    "api",
]
# The providers' sandboxes (`manage.py sandbox`): for development and tests, off in production.
STEMWEB_SANDBOX = env_bool("STEMWEB_SANDBOX", DEBUG)
if STEMWEB_SANDBOX:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    # /healthz: before host validation, the HTTPS redirect and sessions (stemweb.health).
    "stemweb.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # An unchanged job status poll from a session the view granted it: 304 before the rest
    # (its Content-Security-Policy is the cached 200's: a 304 updates headers, removes none).
    "jobs.polling.StatusPollMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Under /api/: the bearer token's owner as the user (for the body limit), JSON errors.
    "api.middleware.ApiMiddleware",
    "stemweb.lib.bodylimit.BodySizeLimitMiddleware",  # knows the user; before a body is read
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "stemweb.urls"
WSGI_APPLICATION = "stemweb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.current_team",
                "notifications.context_processors.notify",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'stemweb.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so a worker in another process can see the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "STEMWEB_DB_PREPARE", True
):
    # psycopg may prepare statements, but none on its own: Django's cursors bind client-side
    # and never prepare; only the status poll's query asks to be (jobs.polling._PreparedCursor).
    # (With OPTIONS["server_side_binding"] on, psycopg would prepare every executemany too.)
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts (django-allauth) ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("STEMWEB_EMAIL_VERIFICATION", "optional")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Seconds an SMTP connection may block (Django's default is none: a mail server that stops
# answering would hold a worker's job-ended email, or a sign-up request, forever).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "stemweb <stemweb@localhost>")

# --- Files ------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("STEMWEB_MEDIA_ROOT", str(VAR_DIR / "media")))

S3_BUCKET = env_str("STEMWEB_S3_BUCKET")
S3_ENDPOINT_URL = env_str("STEMWEB_S3_ENDPOINT_URL")
S3_REGION = env_str("STEMWEB_S3_REGION")


STORAGES = {
    "default": s3_storage(S3_BUCKET, S3_ENDPOINT_URL, S3_REGION)
    if S3_BUCKET
    else {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploads always stream to a temporary file on disk, never into memory, in a directory of their
# own: a web worker killed mid-upload leaves its file there for stemweb.lib.uploadtmp.sweep.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
FILE_UPLOAD_TEMP_DIR = env_str("STEMWEB_UPLOAD_TEMP_DIR") or str(VAR_DIR / "upload-tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

# --- Queues (django-rq on Redis) --------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
    "local": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600},
}
# One cache for every web process, so allauth's rate limits hold across gunicorn workers.
# Django's Redis backend, keeping its redis-py client instead of building one per operation.
CACHES = {
    "default": {
        "BACKEND": "stemweb.lib.rediscache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "stemweb",
    }
}
# Sessions read from that cache, written through to the database (which keeps them across a
# Redis restart): a poll every 2 s no longer reads its session row from PostgreSQL.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Answer a browser session's unchanged job status polls with 304 right after the security
# middleware, with one query and no session middleware (jobs.polling); false: the view answers.
STEMWEB_POLL_SHORTCUT = env_bool("STEMWEB_POLL_SHORTCUT", True)
RQ_SHOW_ADMIN_LINK = True
# Enqueue at once: stemweb already enqueues from transaction.on_commit where it matters.
RQ = {"COMMIT_MODE": "auto"}

# --- stemweb ----------------------------------------------------------------------------------
STEMWEB_MAX_UPLOAD_MB = env_int("STEMWEB_MAX_UPLOAD_MB", 200)
STEMWEB_MAX_DURATION_S = env_int("STEMWEB_MAX_DURATION_S", 1200)
STEMWEB_MIN_DURATION_S = env_int("STEMWEB_MIN_DURATION_S", 1)
# Checked against the file's header before any decoding, like the longest duration.
STEMWEB_MAX_CHANNELS = env_int("STEMWEB_MAX_CHANNELS", 8)
STEMWEB_MAX_SAMPLE_RATE = env_int("STEMWEB_MAX_SAMPLE_RATE", 192000)  # Hz
# An upload decodes at most this many seconds on the web; a worker decodes all of a longer one
# before a job submits it (library.sources).
STEMWEB_UPLOAD_CHECK_S = env_int("STEMWEB_UPLOAD_CHECK_S", 30)
# Rate limits, "COUNT/SECONDS" ("" or "0": off): upload attempts, and jobs created (uploads and
# bulk separation), per user and per team.
STEMWEB_UPLOAD_RATE_USER = env_str("STEMWEB_UPLOAD_RATE_USER", "10/60")
STEMWEB_UPLOAD_RATE_TEAM = env_str("STEMWEB_UPLOAD_RATE_TEAM", "30/60")
STEMWEB_JOB_RATE_USER = env_str("STEMWEB_JOB_RATE_USER", "60/60")
STEMWEB_JOB_RATE_TEAM = env_str("STEMWEB_JOB_RATE_TEAM", "200/60")
# Requests to the REST API per personal access token (uploads and jobs count above as well).
STEMWEB_API_RATE_TOKEN = env_str("STEMWEB_API_RATE_TOKEN", "120/60")
# The API's list endpoints: items per page by default, and the most a ?limit= may ask for.
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 200
# Sections other apps add to the team settings page: dotted paths of functions taking the
# membership and returning (template, context).
STEMWEB_TEAM_SETTINGS_SECTIONS = [
    "jobs.views.keys.settings_section",
    "webhooks.views.settings_section",
]
# Called with job_id= once a job's end is committed (and its stems are not held for review).
STEMWEB_JOB_ENDED_HOOKS = [
    "webhooks.delivery.webhook_enqueue",
    "notifications.services.ended_email_enqueue",
]
# Seconds between the polls with which every page of a signed-in person, hidden tabs too, asks
# for the jobs they started that ended (static/js/notify.js), once the browser may notify.
STEMWEB_NOTIFY_POLL_S = float(env_str("STEMWEB_NOTIFY_POLL_S") or 20)
# Recovery (jobs.services.recovery, every minute): other apps' passes over their lost work,
# dotted paths of functions taking held= (what RQ holds) and returning counts by name.
STEMWEB_RECONCILE_HOOKS = [
    "downloads.rendering.renders_recover",
    "webhooks.delivery.webhooks_recover",
]
# A worker's claim on a job lapses this many seconds after its last renewal (renewed every
# sixth of it): a job whose worker died is taken back by the next recovery pass after that.
STEMWEB_LEASE_S = float(env_str("STEMWEB_LEASE_S") or 30)
# How often RQ's cron scheduler runs a recovery pass, and how late scheduled work (a check, a
# render, a webhook delivery) may be with nothing in RQ before it counts as lost.
STEMWEB_RECONCILE_EVERY_S = env_int("STEMWEB_RECONCILE_EVERY_S", 60)
STEMWEB_RECOVERY_GRACE_S = float(env_str("STEMWEB_RECOVERY_GRACE_S") or 60)
# Remote jobs' status checks: polled by the checker process (`manage.py checker`, jobs.checker)
# in this many threads, so no RQ worker is taken while jobs wait on a provider. False: each
# check is a task scheduled with RQ, run by the workers (recovery does that anyway for a check
# overdue by the grace above, e.g. while no checker runs).
STEMWEB_CHECKER = env_bool("STEMWEB_CHECKER", True)
STEMWEB_CHECKER_THREADS = env_int("STEMWEB_CHECKER_THREADS", 8)
# The local engine: where its converted model files live (`make models` fills it), and how many
# threads one job may use (workers x threads should match the cores).
STEMWEB_MODEL_DIR = Path(env_str("STEMWEB_MODEL_DIR") or VAR_DIR / "models")
STEMWEB_ENGINE_THREADS = max(1, env_int("STEMWEB_ENGINE_THREADS", 1))


# Fernet keys for secrets at rest (provider API keys, webhook secrets), newest first.
STEMWEB_FERNET_KEYS = env_str("STEMWEB_FERNET_KEYS")
# Team invitations expire after this many days.
STEMWEB_INVITATION_DAYS = env_int("STEMWEB_INVITATION_DAYS", 7)


# --- Providers -----------------------------------------------------------------------------
# Each remote provider is configured by STEMWEB_<KEY>_API_KEY, _BASE_URL, _ENABLED (default on;
# offered only to teams with a key, the site's or their own), _POLL_S (seconds between status
# checks) and _DEADLINE_S (after which a job ends timed_out). See ../shared/specs/PROVIDERS.md.
STEMWEB_PROVIDERS = {
    "local": {"enabled": env_bool("STEMWEB_LOCAL_ENABLED", True)},
    "camb": provider_config("camb", "https://client.camb.ai/apis", 5, 1800),
    "finevoice": provider_config("finevoice", "https://apis.finevoice.ai", 5, 1800),
    # Suno-style answers by callback; the poll is the fallback when no callback has come.
    "suno": provider_config("suno", "https://api.sunoapi.org", 60, 1800),
}
# Where providers reach stemweb: callbacks and signed source links are built from it.
STEMWEB_PUBLIC_URL = env_str("STEMWEB_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Provider HTTP: explicit timeouts; transient errors retried with backoff, a bounded number.
STEMWEB_HTTP_CONNECT_TIMEOUT_S = float(env_str("STEMWEB_HTTP_CONNECT_TIMEOUT_S") or 5)
STEMWEB_HTTP_READ_TIMEOUT_S = float(env_str("STEMWEB_HTTP_READ_TIMEOUT_S") or 30)
# Transient provider errors (network, 429, 5xx) retry with exponential backoff (base doubling up
# to the max delay, +-20 % jitter) until the retries have waited the window; 0 = no count limit.
STEMWEB_RETRY_WINDOW_S = float(env_str("STEMWEB_RETRY_WINDOW_S") or 900)
STEMWEB_RETRY_BASE_S = float(env_str("STEMWEB_RETRY_BASE_S") or 2)
STEMWEB_RETRY_MAX_DELAY_S = float(env_str("STEMWEB_RETRY_MAX_DELAY_S") or 120)
STEMWEB_RETRY_LIMIT = env_int("STEMWEB_RETRY_LIMIT", 0)
# Result downloads: size cap, overall timeout, and hosts allowed despite a private address.
STEMWEB_FETCH_MAX_MB = env_int("STEMWEB_FETCH_MAX_MB", 1024)
STEMWEB_FETCH_TIMEOUT_S = float(env_str("STEMWEB_FETCH_TIMEOUT_S") or 300)
STEMWEB_FETCH_ALLOW_HOSTS = env_list("STEMWEB_FETCH_ALLOW_HOSTS", [])
# Hosts a team's webhook URL may point at despite a private address: empty, so the development
# allow-list above (the sandboxes' result files) never lets a tenant's webhook reach loopback.
STEMWEB_WEBHOOK_ALLOW_HOSTS = env_list("STEMWEB_WEBHOOK_ALLOW_HOSTS", [])
# Signed links (source for FineVoice, stems in outgoing webhooks) expire after this long.
STEMWEB_SIGNED_URL_TTL_S = env_int("STEMWEB_SIGNED_URL_TTL_S", 7 * 86400)
# Outgoing webhooks: retry after 1, 5 and 15 minutes, times this factor (tests shrink it).
STEMWEB_WEBHOOK_RETRY_SCALE = float(env_str("STEMWEB_WEBHOOK_RETRY_SCALE") or 1)
STEMWEB_WEBHOOK_TIMEOUT_S = float(env_str("STEMWEB_WEBHOOK_TIMEOUT_S") or 15)

# --- Security and i18n ------------------------------------------------------------------------
# Behind TLS (STEMWEB_SECURE_COOKIES=true): secure cookies, HTTPS redirects and HSTS.
SESSION_COOKIE_SECURE = env_bool("STEMWEB_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("STEMWEB_HSTS_SECONDS", 31536000 if SESSION_COOKIE_SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("STEMWEB_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("STEMWEB_HSTS_PRELOAD", False)
# The TLS proxy's header saying the request came over HTTPS, as "HEADER,value", e.g.
# "X-Forwarded-Proto,https"; only set it when the proxy always sets (or strips) that header.
if _proxy_ssl := env_str("STEMWEB_PROXY_SSL_HEADER"):
    _header, _, _value = _proxy_ssl.partition(",")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _header.strip().upper().replace("-", "_"), _value.strip())
# The client's real address behind proxies, for allauth's login and sign-up throttling: the
# number of proxies that append to X-Forwarded-For, or one header the proxy sets.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("STEMWEB_TRUSTED_PROXY_COUNT", 0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env_str("STEMWEB_CLIENT_IP_HEADER") or None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"


# Content-Security-Policy on every response (django-csp): scripts and styles come from static
# files only, never inline and never eval, so injected markup cannot run. htmx is configured
# not to eval (templates/base.html) and polling pauses in hidden tabs from static/js/polling.js
# instead of an hx-trigger filter. The players may follow a stem link to S3.
STEMWEB_CSP_MEDIA_ORIGINS = env_list(
    "STEMWEB_CSP_MEDIA_ORIGINS", s3_media_origins(S3_BUCKET, S3_ENDPOINT_URL, S3_REGION)
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "media-src": ["'self'", *STEMWEB_CSP_MEDIA_ORIGINS],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},  # provider requests are logged as JobEvents instead
    },
}
