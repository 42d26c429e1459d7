"""Costwatch settings: everything comes from the environment (see README "Configuration").

Loading them only reads: the environment through ``costwatch.config``, and the local secret key
under var/. Nothing is started or written; a run without ``DATABASE_URL`` gets one from
``costwatch.embedded.use_local_defaults``, which ``manage.py`` and ``make run`` call first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from costwatch.config import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    rate_limit_redis_url,
    static_root,
    var_dir,
    web_workers,
)
from costwatch.embedded import SECRET_KEY_FILE, filesystem_broker_options, sqlalchemy_broker_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = var_dir()

DEBUG = env_bool("DEBUG", False)
# Production (compose) sets it: no SECRET_KEY is then an error, not the local key under var/.
COSTWATCH_REQUIRE_SECRET_KEY = env_bool("COSTWATCH_REQUIRE_SECRET_KEY", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY", "")
    if key:
        return key
    if not DEBUG and COSTWATCH_REQUIRE_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    # Local runs use a random key kept under var/ (made by use_local_defaults), so sessions survive restarts.
    path = VAR_DIR / SECRET_KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set and {path} does not exist: set SECRET_KEY, or run `python manage.py check` "
            "once to create the local key"
        ) from None


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Behind a proxy that terminates TLS and sets X-Forwarded-Proto (README "Production"): requests
# count as HTTPS when it says so, session and CSRF cookies are Secure, and HSTS is sent.
COSTWATCH_TLS_PROXY = env_bool("COSTWATCH_TLS_PROXY", False)
COSTWATCH_HSTS_SECONDS = env_int("COSTWATCH_HSTS_SECONDS", 31_536_000 if COSTWATCH_TLS_PROXY else 0, minimum=0)
if COSTWATCH_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = COSTWATCH_HSTS_SECONDS
# Guessing passwords and keys (costwatch/projects/throttle.py).
COSTWATCH_AUTH_THROTTLE_MINUTES = env_int("COSTWATCH_AUTH_THROTTLE_MINUTES", 15, minimum=1)
COSTWATCH_LOGIN_FAILURES_PER_ACCOUNT = env_int("COSTWATCH_LOGIN_FAILURES_PER_ACCOUNT", 10, minimum=0)
COSTWATCH_LOGIN_FAILURES_PER_ADDRESS = env_int("COSTWATCH_LOGIN_FAILURES_PER_ADDRESS", 50, minimum=0)
COSTWATCH_BAD_KEYS_PER_ADDRESS = env_int("COSTWATCH_BAD_KEYS_PER_ADDRESS", 30, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "costwatch.ops",
    "costwatch.projects",
    "costwatch.pricing",
    "costwatch.usage",
    "costwatch.billing",
    "costwatch.savings",
    "ingest",
    "alerts",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "costwatch.security.ContentSecurityPolicyMiddleware",
    # Serves /static/ from gunicorn too (make run): no separate web server needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "costwatch.usage.middleware.QueryTimeoutMiddleware",
]

ROOT_URLCONF = "costwatch.urls"
WSGI_APPLICATION = "costwatch.wsgi.application"
ASGI_APPLICATION = "costwatch.asgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: DATABASE_URL (`make run` and manage.py set it to the embedded PostgreSQL) ------
DATABASE_URL = env_str("DATABASE_URL", "").strip()
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set: `make run` and `python manage.py` start the embedded PostgreSQL under "
        "var/ and set it; set it yourself for other commands (gunicorn, celery)"
    )
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery: CELERY_BROKER_URL, else kombu's SQLAlchemy transport on PostgreSQL -------------
# No broker server is needed: the embedded run keeps its queue in a database of its own on the
# embedded PostgreSQL (use_local_defaults sets CELERY_BROKER_URL to it), a DATABASE_URL run in
# kombu's tables of that database.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "").strip() or sqlalchemy_broker_url(DATABASE_URL)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith(("sqla+", "sqlalchemy+")):
    # Passed to sqlalchemy.create_engine: a connection the database dropped (a restart) is
    # replaced before use instead of failing the next publish.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"pool_pre_ping": True, "pool_recycle": 300}
elif CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULER = "costwatch.beat:ReconnectingScheduler"
CELERY_TASK_ALWAYS_EAGER = False

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = static_root()

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "costwatch.projects.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON first (the default for clients that accept anything); HTML is the browsable API for people
    # signed in with a browser.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # The API takes JSON bodies only (money as decimal strings; form encodings cannot say null or a list).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # ?format=csv is ours (CSV export), not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Costwatch API",
    "DESCRIPTION": "Costs of LLM calls per user, feature, endpoint and model. Authenticate with a project read key.",
    "VERSION": "1",
    # Served from the installed sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "ENUM_NAME_OVERRIDES": {
        "BillProviderEnum": "costwatch.billing.api.PROVIDER_CHOICES",
        "ChannelKindEnum": "alerts.transports.channel_kinds",
        "RuleKindEnum": "alerts.models.RuleKind",
        "RuleScopeEnum": "alerts.models.Scope",
        "PriceListScopeEnum": ["overrides", "catalog", "all"],
        "SavingsScopeEnum": "costwatch.savings.services.SCOPES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"forbidden_one_line": {"()": "costwatch.logfilters.ForbiddenWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("COSTWATCH_LOG_LEVEL", "INFO")},
    # A 403 is one line ("Forbidden (Permission denied): /path"), not a traceback.
    "loggers": {"django.request": {"filters": ["forbidden_one_line"]}},
}

# --- Costwatch options (README "Configuration") ---------------------------------------------
COSTWATCH_HOST = env_str("COSTWATCH_HOST", "127.0.0.1")
COSTWATCH_PORT = env_int("COSTWATCH_PORT", 8000, minimum=1)
COSTWATCH_PUBLIC_URL = env_str("COSTWATCH_PUBLIC_URL", f"http://{COSTWATCH_HOST}:{COSTWATCH_PORT}")
COSTWATCH_INGEST_MAX_BYTES = env_int("COSTWATCH_INGEST_MAX_BYTES", 16 * 1024 * 1024, minimum=1024)
COSTWATCH_INGEST_RATE_PER_MINUTE = env_int("COSTWATCH_INGEST_RATE_PER_MINUTE", 6000, minimum=0)
# Where that limit is counted (ingest/ratelimit.py): Redis, shared by every web and gRPC process
# (default: the broker when it is Redis), or empty: a token bucket in each process.
COSTWATCH_RATE_LIMIT_REDIS_URL = rate_limit_redis_url(CELERY_BROKER_URL)
# Calls must start within this window around the moment of ingest (ingest/validation.py).
COSTWATCH_INGEST_MAX_AGE_DAYS = env_int("COSTWATCH_INGEST_MAX_AGE_DAYS", 31, minimum=1)
COSTWATCH_INGEST_MAX_FUTURE_SECONDS = env_int("COSTWATCH_INGEST_MAX_FUTURE_SECONDS", 3600, minimum=0)
COSTWATCH_FEATURE_ATTRIBUTES = env_list("COSTWATCH_FEATURE_ATTRIBUTES", [])
COSTWATCH_USER_ATTRIBUTES = env_list("COSTWATCH_USER_ATTRIBUTES", [])
# Custom dimensions (costwatch.usage.dimensions): short span attributes are kept this many days so a
# dimension added later can be backfilled; each dimension keeps this many distinct values per day.
COSTWATCH_SPAN_ATTRIBUTES_DAYS = env_int("COSTWATCH_SPAN_ATTRIBUTES_DAYS", 30, minimum=0)
COSTWATCH_DIMENSION_MAX_VALUES_PER_DAY = env_int("COSTWATCH_DIMENSION_MAX_VALUES_PER_DAY", 1000, minimum=1)
COSTWATCH_MAX_DIMENSIONS = env_int("COSTWATCH_MAX_DIMENSIONS", 10, minimum=1)
COSTWATCH_ROLLUP_INTERVAL_SECONDS = env_float("COSTWATCH_ROLLUP_INTERVAL_SECONDS", 5.0, minimum=0.5)
COSTWATCH_ALERT_INTERVAL_SECONDS = env_float("COSTWATCH_ALERT_INTERVAL_SECONDS", 30.0, minimum=1.0)
COSTWATCH_QUERY_TIMEOUT_MS = env_int("COSTWATCH_QUERY_TIMEOUT_MS", 20_000, minimum=100)
COSTWATCH_PARTITION_INTERVAL_SECONDS = env_float("COSTWATCH_PARTITION_INTERVAL_SECONDS", 3600.0, minimum=60.0)
COSTWATCH_RETENTION_DAYS = env_int("COSTWATCH_RETENTION_DAYS", 0, minimum=0)
# gunicorn's worker timeout (`make run`, compose): a worker silent this long is killed. gthread
# workers stay responsive during a slow request, but an export still gives up well before this
# (and before a proxy's timeout) and answers 503 (COSTWATCH_INGEST_TIMEOUT_MS).
COSTWATCH_WEB_TIMEOUT_SECONDS = env_int("COSTWATCH_WEB_TIMEOUT_SECONDS", 30, minimum=5)
COSTWATCH_INGEST_TIMEOUT_MS = env_int("COSTWATCH_INGEST_TIMEOUT_MS", 20_000, minimum=100)
if COSTWATCH_INGEST_TIMEOUT_MS >= COSTWATCH_WEB_TIMEOUT_SECONDS * 1000:
    raise ImproperlyConfigured(
        f"COSTWATCH_INGEST_TIMEOUT_MS={COSTWATCH_INGEST_TIMEOUT_MS} must be below COSTWATCH_WEB_TIMEOUT_SECONDS="
        f"{COSTWATCH_WEB_TIMEOUT_SECONDS} s, so an export answers 503 before gunicorn kills the worker"
    )
# gunicorn under `make run`: gthread workers, one process per usable core (or WEB_CONCURRENCY).
COSTWATCH_WEB_WORKERS = web_workers()
COSTWATCH_WORKER_CONCURRENCY = env_int("COSTWATCH_WORKER_CONCURRENCY", 2, minimum=1)
COSTWATCH_HEARTBEAT_SECONDS = env_float("COSTWATCH_HEARTBEAT_SECONDS", 30.0, minimum=1.0)
COSTWATCH_HEARTBEAT_STALE_SECONDS = env_float(
    "COSTWATCH_HEARTBEAT_STALE_SECONDS", 3 * COSTWATCH_HEARTBEAT_SECONDS, minimum=COSTWATCH_HEARTBEAT_SECONDS
)
# `make run` restarts worker and beat when the heartbeat is older than this while both run
# (0 = never). Keep it above the longest task: with every pool process busy, the heartbeat waits.
COSTWATCH_WORKER_WATCHDOG_SECONDS = env_float(
    "COSTWATCH_WORKER_WATCHDOG_SECONDS", 2 * COSTWATCH_HEARTBEAT_STALE_SECONDS, minimum=0
)
# OTLP/gRPC receiver (`manage.py rungrpc`); COSTWATCH_GRPC_PORT=0 keeps `make run` from starting it.
COSTWATCH_GRPC_HOST = env_str("COSTWATCH_GRPC_HOST", "127.0.0.1")
COSTWATCH_GRPC_PORT = env_int("COSTWATCH_GRPC_PORT", 4317, minimum=0)
COSTWATCH_GRPC_MAX_MESSAGE_BYTES = env_int("COSTWATCH_GRPC_MAX_MESSAGE_BYTES", COSTWATCH_INGEST_MAX_BYTES, minimum=1024)
COSTWATCH_GRPC_WORKERS = env_int("COSTWATCH_GRPC_WORKERS", 8, minimum=1)

# --- Web app (frontend/) --------------------------------------------------------------------
# WhiteNoise serves the app's static files straight from the installed apps, so `make run`
# needs no collectstatic step; a collected STATIC_ROOT (the Docker image) is served as well.
WHITENOISE_USE_FINDERS = True
TEMPLATES[0]["OPTIONS"]["context_processors"].append("frontend.context.navigation")

# --- Alerts (alerts/): email, PagerDuty, delivery retries (README "Alerts") -------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive; set only one")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Costwatch <costwatch@localhost>")
COSTWATCH_PAGERDUTY_URL = env_str("COSTWATCH_PAGERDUTY_URL", "https://events.pagerduty.com/v2/enqueue")
# Webhook, Slack and PagerDuty requests refuse loopback, private and link-local targets (after
# DNS resolution) unless this is true: receivers on a private network, local test servers.
COSTWATCH_ALLOW_PRIVATE_TARGETS = env_bool("COSTWATCH_ALLOW_PRIVATE_TARGETS", False)
COSTWATCH_DELIVERY_TIMEOUT_SECONDS = env_float("COSTWATCH_DELIVERY_TIMEOUT_SECONDS", 10.0, minimum=0.1)
COSTWATCH_DELIVERY_MAX_ATTEMPTS = env_int("COSTWATCH_DELIVERY_MAX_ATTEMPTS", 8, minimum=1)
COSTWATCH_DELIVERY_BACKOFF_SECONDS = env_float("COSTWATCH_DELIVERY_BACKOFF_SECONDS", 10.0, minimum=0.0)
COSTWATCH_DELIVERY_BACKOFF_MAX_SECONDS = env_float("COSTWATCH_DELIVERY_BACKOFF_MAX_SECONDS", 900.0, minimum=0.0)
COSTWATCH_DELIVERY_SWEEP_SECONDS = env_float("COSTWATCH_DELIVERY_SWEEP_SECONDS", 5.0, minimum=0.5)

# --- Billing (costwatch/billing/): provider bills and reconciliation (README "Reconciliation") --
# Admin keys are encrypted with a key derived from COSTWATCH_SECRETS_KEY, else SECRET_KEY.
COSTWATCH_SECRETS_KEY = env_str("COSTWATCH_SECRETS_KEY", "")
COSTWATCH_OPENAI_API_BASE = env_str("COSTWATCH_OPENAI_API_BASE", "https://api.openai.com")
COSTWATCH_ANTHROPIC_API_BASE = env_str("COSTWATCH_ANTHROPIC_API_BASE", "https://api.anthropic.com")
COSTWATCH_BILLING_PULL_DAYS = env_int("COSTWATCH_BILLING_PULL_DAYS", 7, minimum=1)
COSTWATCH_BILLING_PULL_EVERY_HOURS = env_float("COSTWATCH_BILLING_PULL_EVERY_HOURS", 24.0, minimum=0.01)
COSTWATCH_BILLING_CHECK_INTERVAL_SECONDS = env_float("COSTWATCH_BILLING_CHECK_INTERVAL_SECONDS", 300.0, minimum=1.0)
COSTWATCH_BILLING_TIMEOUT_SECONDS = env_float("COSTWATCH_BILLING_TIMEOUT_SECONDS", 30.0, minimum=0.1)
COSTWATCH_BILLING_MAX_ATTEMPTS = env_int("COSTWATCH_BILLING_MAX_ATTEMPTS", 5, minimum=1)
COSTWATCH_BILLING_BACKOFF_SECONDS = env_float("COSTWATCH_BILLING_BACKOFF_SECONDS", 2.0, minimum=0.0)
COSTWATCH_BILLING_MAX_RETRY_WAIT_SECONDS = env_float("COSTWATCH_BILLING_MAX_RETRY_WAIT_SECONDS", 60.0, minimum=0.0)

# --- Savings advisor (costwatch/savings/, README "Savings advisor") -----------------------------------
COSTWATCH_SAVINGS_DIGEST_CHECK_SECONDS = env_float("COSTWATCH_SAVINGS_DIGEST_CHECK_SECONDS", 3600.0, minimum=1.0)

# --- Periodic work: what Celery beat sends, and how often ------------------------------------
# Each entry expires after two of its intervals: a beat that outran a stopped worker does not
# leave a pile of stale runs. A rollup run that changed buckets also triggers alert evaluation at
# once (costwatch/celery.py FOLLOW_UPS).


def _every(seconds: float, task: str) -> dict[str, object]:
    return {"task": task, "schedule": seconds, "options": {"expires": seconds * 2}}


CELERY_BEAT_SCHEDULE = {
    "rollups": _every(COSTWATCH_ROLLUP_INTERVAL_SECONDS, "costwatch.usage.tasks.recompute_dirty_buckets"),
    "partitions": _every(COSTWATCH_PARTITION_INTERVAL_SECONDS, "costwatch.usage.tasks.maintain_call_partitions"),
    "span-attributes": _every(COSTWATCH_PARTITION_INTERVAL_SECONDS, "costwatch.usage.tasks.purge_span_attributes_task"),
    "heartbeat": _every(COSTWATCH_HEARTBEAT_SECONDS, "costwatch.ops.tasks.record_heartbeat"),
    "alerts": _every(COSTWATCH_ALERT_INTERVAL_SECONDS, "alerts.tasks.evaluate_alert_rules"),
    "deliveries": _every(COSTWATCH_DELIVERY_SWEEP_SECONDS, "alerts.tasks.sweep_deliveries"),
    "billing": _every(COSTWATCH_BILLING_CHECK_INTERVAL_SECONDS, "costwatch.billing.tasks.pull_due_bills"),
    "broker-prune": _every(COSTWATCH_PARTITION_INTERVAL_SECONDS, "costwatch.ops.tasks.prune_broker_messages"),
    "savings-digest": _every(COSTWATCH_SAVINGS_DIGEST_CHECK_SECONDS, "costwatch.savings.tasks.send_weekly_digests"),
}
