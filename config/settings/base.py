"""All settings, from the environment; with no environment at all, the embedded default."""

import secrets
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# The embedded default keeps every piece of state (database, media, broker queue) under var/.
VAR_DIR = Path(env.str("NANOBANANA_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _embedded_secret_key() -> str:
    """A per-install random key kept in var/, so a fresh `make run` needs no configuration."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _embedded_secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "core",
    "accounts",
    "billing",
    "imaging",
    "webhooks",
    "api",
    "dashboard",
]

# Django's own middleware, in subclasses that keep the chain on the event loop under ASGI and
# let /v1 skip what only the cookie-based dashboard needs (core/middleware.py says why).
MIDDLEWARE = [
    "core.metrics.RequestMetricsMiddleware",  # first: it times everything below
    "core.logs.LogContextMiddleware",  # outside the access log line, which shows the account
    "core.request_ids.RequestIdMiddleware",
    "core.middleware.OnTheLoopSecurityMiddleware",
    "core.middleware.StaticFilesMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.middleware.DashboardOnlySessionMiddleware",
    "core.middleware.OnTheLoopLocaleMiddleware",
    "core.middleware.OnTheLoopCommonMiddleware",
    "core.middleware.DashboardOnlyCsrfViewMiddleware",
    "core.middleware.DashboardOnlyAuthenticationMiddleware",
    "core.middleware.DashboardOnlyMessageMiddleware",
    "core.middleware.OnTheLoopXFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
# Django's checks for the security, clickjacking and CSRF middleware match dotted paths, not the
# subclasses above; core/checks.py checks for the classes instead (nanobanana.W001-W003).
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
                "django.template.context_processors.i18n",
                "accounts.context_processors.account_switcher",
            ],
        },
    }
]

# --- Data -------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'nanobanana.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Under ASGI each request runs its sync code on a thread of its own, so persistent connections
# would pile up one per thread: connections are closed after each request and, on PostgreSQL,
# come from a small per-process pool instead (psycopg_pool). A database that does not answer
# fails a request within DATABASE_CONNECT_TIMEOUT seconds (503 TEMPORARY_UNAVAILABLE).
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", default=3)
# Behind pgbouncer in transaction mode the pooling is pgbouncer's: no pool of our own, and no
# server-side cursors (a cursor would outlive the transaction its server connection served).
DATABASE_PGBOUNCER = env.bool("DATABASE_PGBOUNCER", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {"connect_timeout": DATABASE_CONNECT_TIMEOUT}
    if DATABASE_PGBOUNCER:
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    else:
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": env.int("DATABASE_POOL_SIZE", default=10),
            "timeout": DATABASE_CONNECT_TIMEOUT,
        }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker process read while the other writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

REDIS_URL = env.str("REDIS_URL", default="")
# Every Redis client gets socket timeouts: a frozen Redis must not hang a request.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "nb",
            "OPTIONS": {
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }
else:
    # Embedded mode: a cache on local disk, shared by every process of this install (allauth's
    # rate limits must hold across the web server's workers).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth -------------------------------------------------------------------------------------
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
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Nano Banana] "
# allauth's defaults (login failures, sign-ups, password resets, …) stay on; these tighten two.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/h/ip",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Nano Banana"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# The pages' Content-Security-Policy (core.middleware; not on /v1): our own static scripts only,
# no inline script or style. A template that needs an inline <script> gives it
# nonce="{{ request.csp_nonce }}", which adds that nonce to script-src (Swagger UI's setup only).
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],  # as X_FRAME_OPTIONS
    # Checkout and the billing portal answer our form posts with a redirect to Stripe.
    "form-action": ["'self'", "https://checkout.stripe.com", "https://billing.stripe.com"],
}
# What pages under a path prefix add: third-party UIs that set inline styles (the admin, Swagger
# UI) or inject them and search in a blob: worker (Redoc).
CONTENT_SECURITY_POLICY_EXTRA = {
    "/admin/": {"style-src": ["'unsafe-inline'"]},
    "/docs/swagger": {"style-src": ["'unsafe-inline'"]},
    "/docs/redoc": {"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]},
}

# --- Email ------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Nano Banana <noreply@nanobanana.local>")
# EMAIL_URL=smtp+tls://user:pass@smtp.example.com:587 sends real mail; by default it is printed.
_email = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(_email)

# --- I18n -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static and media ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Result links expire; on S3 they are presigned (results are never public).
RESULT_URL_TTL_SECONDS = env.int("RESULT_URL_TTL_SECONDS", default=86400)
# With a bucket, inputs, results and masks live in S3 or an S3-compatible server (MinIO, ...),
# set by django-storages' own names. It reads the credentials itself: AWS_S3_ACCESS_KEY_ID or
# AWS_ACCESS_KEY_ID, AWS_S3_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY, else boto3's own chain.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = (
    env.str("AWS_S3_ENDPOINT_URL", default="") or env.str("AWS_ENDPOINT_URL_S3", default="") or None
)
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
# A custom endpoint has no host name per bucket (bucket.minio.internal): address by path there.
AWS_S3_ADDRESSING_STYLE = (
    env.str("AWS_S3_ADDRESSING_STYLE", default="path" if AWS_S3_ENDPOINT_URL else "") or None
)
# Policy, not configuration. No ACL header on uploads: objects are as private as the bucket
# (buckets with ACLs disabled, AWS's default, refuse ACL headers). Links are SigV4 presigned (S3
# caps their life at 7 days) and expire with RESULT_URL_TTL_SECONDS. A name is never overwritten.
AWS_DEFAULT_ACL = None
AWS_QUERYSTRING_AUTH = True
AWS_QUERYSTRING_EXPIRE = RESULT_URL_TTL_SECONDS
AWS_S3_SIGNATURE_VERSION = "s3v4"
AWS_S3_FILE_OVERWRITE = False
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage"
        if AWS_STORAGE_BUCKET_NAME
        else "django.core.files.storage.FileSystemStorage"
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.authentication.HasApiKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.ApiJSONParser",  # one JSON object, its nesting bounded
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.hooks.ApiAutoSchema",
    "UNAUTHENTICATED_USER": None,
    # ISO-8601 in UTC to the second, as the reference's examples: 2024-01-01T10:00:00Z.
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
}
# OpenAPI at /v1/openapi.json (api.schema); Swagger UI and Redoc from the sidecar, no CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "Nano Banana API",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/v1",
    "SORT_OPERATIONS": False,  # the reference's order (api/urls.py)
    "PREPROCESSING_HOOKS": ["api.schema.hooks.preprocess_api_endpoints"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.hooks.postprocess_schema",
    ],
    "ENUM_NAME_OVERRIDES": {"TaskStatusEnum": "imaging.models.Task.Status"},
    "TAGS": [
        {"name": "Images", "description": "The image operations (they cost credits)."},
        {"name": "Tasks", "description": "Polling and cancelling tasks and batches."},
        {"name": "Account", "description": "Plan, credits and limits."},
        {"name": "Webhooks", "description": "Callbacks when tasks finish."},
    ],
    "EXTERNAL_DOCS": {"description": "Guide with curl, Python and JavaScript", "url": "/docs"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"displayRequestDuration": True},
    # System fonts: the sidecar ships Redoc but not the web fonts its theme asks for.
    "REDOC_UI_SETTINGS": {
        "expandResponses": "200,202",
        "theme": {
            "typography": {
                "fontFamily": "system-ui, sans-serif",
                "headings": {"fontFamily": "system-ui, sans-serif"},
            }
        },
    },
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}
# JSON bodies may carry a base64 image of the largest plan's limit (20 MB -> ~27 MB of text);
# the plan's own limit is enforced on the image itself (413 FILE_TOO_LARGE).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=30 * 1024 * 1024)
# What the ASGI entry point (core.request_limits) lets through to Django: a request line and
# headers of at most this many bytes (else 431), and a body that has fully arrived within this
# many seconds of its headers (else 408), so a client sending its body slowly or never cannot hold
# a request open. A load balancer in front should cap both too (docs/reliability-inputs.md).
REQUEST_MAX_HEADER_BYTES = env.int("REQUEST_MAX_HEADER_BYTES", default=32 * 1024)
REQUEST_BODY_TIMEOUT_SECONDS = env.float("REQUEST_BODY_TIMEOUT_SECONDS", default=60.0)
# How long a POST waits for its result before answering 202 with the task (the reference's
# examples answer with the finished image).
API_SYNC_WAIT_SECONDS = env.float("API_SYNC_WAIT_SECONDS", default=30.0)
# How long an Idempotency-Key and its stored answer are kept (Stripe: 24 hours).
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# `last_used_at` is written at most this often per key, so authentication stays read-only.
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60
# Fetching `image_url`s (imaging.inputs): a connect timeout, and one deadline per request over
# DNS, redirects and the bodies of all its URLs (fetched concurrently). Hosts listed here (exact
# names) may resolve to private addresses: development and tests only, never production.
IMAGE_FETCH_CONNECT_TIMEOUT_SECONDS = env.float("IMAGE_FETCH_CONNECT_TIMEOUT_SECONDS", default=2.0)
IMAGE_FETCH_TIMEOUT_SECONDS = env.float("IMAGE_FETCH_TIMEOUT_SECONDS", default=15.0)
NANOBANANA_FETCH_ALLOW_HOSTS = env.list("NANOBANANA_FETCH_ALLOW_HOSTS", default=[])

# --- Stripe -------------------------------------------------------------------------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Tests point the official SDK at a local stub server; production leaves this alone.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
# Pinned: webhook payloads and API responses are read in this version's shape.
STRIPE_API_VERSION = "2026-10-28.endive"
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
STRIPE_PRICE_IDS = {
    "basic": env.str("STRIPE_PRICE_BASIC", default=""),
    "pro": env.str("STRIPE_PRICE_PRO", default=""),
    "max": env.str("STRIPE_PRICE_MAX", default=""),
}

# --- Celery -------------------------------------------------------------------------------------
# Embedded mode uses kombu's filesystem transport: a real worker process, no broker server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
_broker_dir = VAR_DIR / "broker"
if CELERY_BROKER_URL == "filesystem://":
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The worker looks for new messages this often (kombu's default is once a second).
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    }
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport, publishing through one client per channel (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_SOCKET_TIMEOUT
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Task state lives in our own database rows; Celery keeps no results.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "billing-renewals": {"task": "billing.renewals", "schedule": 3600.0},
    "api-idempotency-purge": {"task": "api.idempotency_purge", "schedule": 3600.0},
    "imaging-purge": {"task": "imaging.purge", "schedule": 3600.0},
}
# Diffusion work goes to GPU workers, the light operations to CPU workers (see imaging.services).
CELERY_TASK_DEFAULT_QUEUE = "cpu"
IMAGING_SOFT_TIME_LIMIT = env.int("IMAGING_SOFT_TIME_LIMIT", default=540)
IMAGING_HARD_TIME_LIMIT = env.int("IMAGING_HARD_TIME_LIMIT", default=600)
IMAGING_MAX_ATTEMPTS = 3
# A running task holds a lease that its worker renews every third of it. Once the lease lapses
# (the worker died or froze) the task is taken over: by the redelivered message, or queued again
# by the sweep, so a dead worker costs a task about a lease plus a sweep interval, not hours.
IMAGING_TASK_LEASE_SECONDS = env.float("IMAGING_TASK_LEASE_SECONDS", default=30.0)
IMAGING_TASK_LEASE_RENEW_SECONDS = IMAGING_TASK_LEASE_SECONDS / 3
# How often beat runs imaging.sweep: tasks whose lease lapsed are queued again (or failed and
# refunded after their last attempt), and pending tasks are queued again when the broker lost
# its messages (a Redis restarted empty). On the `celery` queue, never behind long image work.
IMAGING_SWEEP_SECONDS = env.float("IMAGING_SWEEP_SECONDS", default=15.0)
# How often an idle worker checks that it still receives messages: when the same pending tasks of
# its queues were waiting at two looks, it reconnects to the broker (imaging/consumer_watchdog.py).
# 0 = off.
IMAGING_CONSUMER_WATCHDOG_SECONDS = env.float("IMAGING_CONSUMER_WATCHDOG_SECONDS", default=30.0)
# Unfinished tasks older than this are failed and refunded whatever their state: the backstop.
IMAGING_TASK_MAX_AGE_HOURS = 6
CELERY_BEAT_SCHEDULE["imaging-sweep"] = {
    "task": "imaging.sweep",
    "schedule": IMAGING_SWEEP_SECONDS,
    "options": {"queue": "celery"},
}
# New GPU tasks are refused (503 TEMPORARY_UNAVAILABLE) while this many wait; 0 = no limit.
IMAGING_GPU_QUEUE_MAX_DEPTH = env.int("IMAGING_GPU_QUEUE_MAX_DEPTH", default=200)
# How stale (seconds) a web process's count of that queue may be; it adds its own submits between
# counts.
IMAGING_QUEUE_DEPTH_RECOUNT_SECONDS = env.float("IMAGING_QUEUE_DEPTH_RECOUNT_SECONDS", default=1.0)
# Input, result and mask images of a finished task are deleted this many days after it finished
# (its row stays; its image URLs become null); the webhook delivery log is kept as long. 0 = keep.
IMAGING_FILE_RETENTION_DAYS = env.int("IMAGING_FILE_RETENTION_DAYS", default=30)
# Diffusion models by id or local path per operation; empty means the tiny demo models, built
# once into IMAGING_MODEL_CACHE_DIR (labelled as demo output). Production ids: docs/engine.md.
IMAGING_DIFFUSION_MODELS = {
    "text_to_image": env.str("IMAGING_MODEL_TEXT_TO_IMAGE", default=""),
    "image_edit": env.str("IMAGING_MODEL_IMAGE_EDIT", default=""),
}
# Background removal: MediaPipe (in the wheel) by default; a local BiRefNet folder when set.
IMAGING_BIREFNET_PATH = env.str("IMAGING_BIREFNET_PATH", default="")
# Real-ESRGAN variant: animevideov3 (fast on CPU) or x4plus (photos; GPU hosts).
IMAGING_UPSCALE_VARIANT = env.str("IMAGING_UPSCALE_VARIANT", default="animevideov3")
IMAGING_MODEL_CACHE_DIR = Path(env.str("IMAGING_MODEL_CACHE_DIR", default=str(VAR_DIR / "models")))
# A message not acknowledged within this time is redelivered: keep it well above the hard limit
# or long jobs would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = 2 * IMAGING_HARD_TIME_LIMIT + 60
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A broker that is down must not hold a request for long: a few quick retries, then 503.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# Pool processes are replaced after this many tasks, or once their peak memory passes
# CELERY_WORKER_MAX_MEMORY_PER_CHILD KiB (0: no limit): a guard against leaks. A replacement
# costs a fork and a new process's warm-up (its models loaded again, its connections opened):
# at 200 tasks the queue bench's drain halved (bench/queueing.py), and a GPU worker would reload
# its pipelines every 200 images.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=10_000)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = (
    env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=0) or None
)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Observability (core.metrics, api.health) ----------------------------------------------------
# /metrics answers loopback clients, and others sending `Authorization: Bearer <METRICS_TOKEN>`
# when it is set (else they get 404). Several processes of a host share their metrics through
# PROMETHEUS_MULTIPROC_DIR, which prometheus_client reads from the environment itself.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A worker serves its own metrics on this port (0 = off), under the same access rule.
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
METRICS_WORKER_ADDRESS = env.str("METRICS_WORKER_ADDRESS", default="0.0.0.0")  # noqa: S104
# /readyz gives each of its checks (database, broker, storage) this long before it counts as down.
READYZ_TIMEOUT_SECONDS = env.float("READYZ_TIMEOUT_SECONDS", default=2.0)

# --- Logging --------------------------------------------------------------------------------------
# "text" (the default) or "json": one JSON object per line, with the request, task and account
# ids (core.logs.JsonFormatter), from the web process and the workers alike.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # api installs a log-record factory that stamps each record with its request id.
        "default": {
            "()": "logging.Formatter",
            "fmt": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s",
            "defaults": {"request_id": "-"},
        },
        "json": {"()": "core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "default",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # httpx logs whole URLs at INFO; fetched URLs may carry signed query strings.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- Webhooks (webhooks.services) ---------------------------------------------------------------
# Seconds to wait after each failed attempt: Standard Webhooks' schedule (5 s … 10 h), 8 attempts
# over about 28 hours; then the delivery is failed (it can still be redelivered by hand).
WEBHOOK_RETRY_DELAYS = env.list(
    "WEBHOOK_RETRY_DELAYS", cast=int, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
# One attempt: a connect timeout and a deadline over DNS, connect, TLS, request and response.
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=2.0)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_ENDPOINTS_PER_ACCOUNT = env.int("WEBHOOK_MAX_ENDPOINTS_PER_ACCOUNT", default=10)
# After a secret rotation, messages are signed with the old secret too for this long.
WEBHOOK_SECRET_ROTATION_GRACE_SECONDS = env.int(
    "WEBHOOK_SECRET_ROTATION_GRACE_SECONDS", default=86400
)
# An endpoint whose deliveries have all failed for good for this many days is switched off
# (0 = never).
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=3)
# Retries due within this many seconds are queued with a countdown; later ones are left to the
# sweep. Long countdowns sit in worker memory and, with Redis, outlive the visibility timeout and
# come back as duplicates.
WEBHOOK_COUNTDOWN_MAX_SECONDS = 600
# The sweep re-queues pending deliveries whose time has come (lost messages, long retries).
WEBHOOK_SWEEP_SECONDS = 60.0
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {
    "task": "webhooks.sweep",
    "schedule": WEBHOOK_SWEEP_SECONDS,
    "options": {"queue": "celery"},
}
# Retention of the delivery log: as long as the tasks' images (IMAGING_FILE_RETENTION_DAYS).
CELERY_BEAT_SCHEDULE["webhooks-purge"] = {
    "task": "webhooks.purge",
    "schedule": 3600.0,
    "options": {"queue": "celery"},
}
