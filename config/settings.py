"""OpenCentrex settings: everything that varies comes from the environment (see .env.example)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str:
    """A setting from the environment; an empty variable counts as unset."""
    value = os.environ.get(name) or default
    if value is None:
        raise ImproperlyConfigured(f"Set the environment variable {name} (see .env.example).")
    return value


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)
# Local runs get a fixed development key; production must bring its own.
SECRET_KEY = env("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me" if DEBUG else None)
# Every host is routed by tenants.routing (unknown hosts answer 404), so Django's own host check
# only needs to keep out what the operator names here.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "*")

# Hosts that serve the god (platform operator) portal.
OCX_PLATFORM_HOSTS = env_list("OCX_PLATFORM_HOSTS", "localhost,127.0.0.1")
# What the portals tell users about where things run.
OCX_WEB_URL_PORT = env("OCX_WEB_URL_PORT", "8000")
OCX_VAR_DIR = Path(env("OCX_VAR_DIR", str(BASE_DIR / "var")))

# Brute-force protection of portal sign-ins and password checks (tenants/signin.py): this many
# wrong passwords for one account, or from one address, each within `window` seconds of the last,
# lock that account or address for `lockout` seconds (operators can unlock an account early).
OCX_SIGNIN = {
    "account_failures": int(env("OCX_SIGNIN_ACCOUNT_FAILURES", "10")),
    "address_failures": int(env("OCX_SIGNIN_ADDRESS_FAILURES", "30")),
    "window": int(env("OCX_SIGNIN_WINDOW", "900")),
    "lockout": int(env("OCX_SIGNIN_LOCKOUT", "900")),
}
# Click-to-call widgets' public endpoint (telephony/widgets.py): calls asked for within `window` seconds,
# at most `per_address` from one visitor's address and `per_widget` through one widget; past either, 429.
OCX_CLICK_TO_CALL = {
    "per_address": int(env("OCX_CLICK_TO_CALL_PER_ADDRESS", "3")),
    "per_widget": int(env("OCX_CLICK_TO_CALL_PER_WIDGET", "60")),
    "window": int(env("OCX_CLICK_TO_CALL_WINDOW", "3600")),
}
# Instant messages between a client's people (im/services.py): a message is at most `max_length`
# characters; one person sends at most `per_window` messages within `window` seconds (a Redis counter
# every web process shares; past it: 429).
OCX_IM = {
    "max_length": int(env("OCX_IM_MAX_LENGTH", "2000")),
    "per_window": int(env("OCX_IM_PER_WINDOW", "30")),
    "window": int(env("OCX_IM_WINDOW", "60")),
}
# Web chat's visitors (chat/visitors.py): the chats one client may have waiting or open at once; past it
# a visitor's new chat is refused ("busy") until some end.
OCX_CHAT = {
    "max_per_client": int(env("OCX_CHAT_MAX_PER_CLIENT", "500")),
}
# Voicemail PINs typed by phone (voicemail.services.mailbox_pin_try): wrong ones counted per box and per
# calling line across calls; past either limit (each within `window` seconds of the last) the box, or
# the line, opens no box for `lockout` seconds, even with the right PIN.
OCX_VOICEMAIL_PIN = {
    "account_failures": int(env("OCX_VOICEMAIL_PIN_BOX_FAILURES", "5")),
    "address_failures": int(env("OCX_VOICEMAIL_PIN_LINE_FAILURES", "10")),
    "window": int(env("OCX_VOICEMAIL_PIN_WINDOW", "900")),
    "lockout": int(env("OCX_VOICEMAIL_PIN_LOCKOUT", "900")),
}
# Password reset by e-mail (tenants/reset.py): a link works once and for this many seconds; requests are
# counted per typed address and per caller's address, at most this many in `window` seconds (the same
# answer is given whether the account exists or not).
PASSWORD_RESET_TIMEOUT = int(env("OCX_PASSWORD_RESET_TIMEOUT", "3600"))
OCX_PASSWORD_RESET = {
    "account_failures": int(env("OCX_PASSWORD_RESET_ACCOUNT_REQUESTS", "3")),
    "address_failures": int(env("OCX_PASSWORD_RESET_ADDRESS_REQUESTS", "10")),
    "window": int(env("OCX_PASSWORD_RESET_WINDOW", "3600")),
    "lockout": int(env("OCX_PASSWORD_RESET_WINDOW", "3600")),
}
# Second factor (tenants/second_factor.py): wrong codes at sign-in, counted apart from wrong passwords,
# lock the account (or the address) for `lockout` seconds.
OCX_SECOND_FACTOR = {
    "account_failures": int(env("OCX_SECOND_FACTOR_ACCOUNT_FAILURES", "5")),
    "address_failures": int(env("OCX_SECOND_FACTOR_ADDRESS_FAILURES", "20")),
    "window": int(env("OCX_SECOND_FACTOR_WINDOW", "900")),
    "lockout": int(env("OCX_SECOND_FACTOR_LOCKOUT", "900")),
}

# The SIP edge (telephony/edge): addresses, registration limits and abuse protection.
OCX_SIP = {
    "host": env("OCX_SIP_HOST", "127.0.0.1"),
    "port": int(env("OCX_SIP_PORT", "5060")),
    "tls_port": int(env("OCX_SIP_TLS_PORT", "5061")),
    "tls_cert": env("OCX_SIP_TLS_CERT", ""),
    "tls_key": env("OCX_SIP_TLS_KEY", ""),
    "min_expires": int(env("OCX_SIP_MIN_EXPIRES", "60")),
    "max_expires": int(env("OCX_SIP_MAX_EXPIRES", "3600")),
    "default_expires": int(env("OCX_SIP_DEFAULT_EXPIRES", "3600")),
    "max_contacts": int(env("OCX_SIP_MAX_CONTACTS", "10")),
    "nonce_ttl": int(env("OCX_SIP_NONCE_TTL", "300")),
    "digest_algorithms": tuple(env_list("OCX_SIP_DIGEST_ALGORITHMS", "MD5")),
    "flood_limit": int(env("OCX_SIP_FLOOD_LIMIT", "200")),
    "flood_window": float(env("OCX_SIP_FLOOD_WINDOW", "2")),
    "flood_ban": int(env("OCX_SIP_FLOOD_BAN", "300")),
    "auth_failures": int(env("OCX_SIP_AUTH_FAILURES", "10")),
    "auth_window": int(env("OCX_SIP_AUTH_WINDOW", "600")),
    "auth_ban": int(env("OCX_SIP_AUTH_BAN", "900")),
    "message_max_bytes": int(env("OCX_SIP_MESSAGE_MAX_BYTES", "1024")),
    "message_rate": int(env("OCX_SIP_MESSAGE_RATE", "30")),
    "message_client_rate": int(env("OCX_SIP_MESSAGE_CLIENT_RATE", "300")),
    "message_window": int(env("OCX_SIP_MESSAGE_WINDOW", "60")),
    "trusted": env_list("OCX_SIP_TRUSTED", ""),
    "keepalive_interval": float(env("OCX_SIP_KEEPALIVE", "30")),
    "keepalive_misses": int(env("OCX_SIP_KEEPALIVE_MISSES", "3")),
    "advertise": env("OCX_SIP_ADVERTISE", ""),
    "t1": float(env("OCX_SIP_T1", "0.5")),
    "engine_timeout": float(env("OCX_SIP_ENGINE_TIMEOUT", "2")),
    "carrier_timeout": float(env("OCX_SIP_CARRIER_TIMEOUT", "5")),
    "timer_c": float(env("OCX_SIP_TIMER_C", "180")),
    "call_max_age": int(env("OCX_SIP_CALL_MAX_AGE", "43200")),
    "call_check": float(env("OCX_SIP_CALL_CHECK", "15")),
    "gateway_ping": float(env("OCX_SIP_GATEWAY_PING", "15")),
    # Carriers' gateways over TLS: their certificates are verified against the system's store and, when
    # set, this PEM file of private CAs too. Gateways by name: the DNS servers asked (ip[:port], commas).
    "carrier_ca": env("OCX_SIP_CARRIER_CA", ""),
    "dns_servers": tuple(env_list("OCX_SIP_DNS_SERVERS", "")),
}
# The call engines (telephony/engine): where each listens for the edge, its RTP ports and limits.
_rtp_first, _, _rtp_last = env("OCX_ENGINE_RTP_PORTS", "20000-29999").partition("-")
OCX_ENGINE = {
    "host": env("OCX_ENGINE_HOST", "127.0.0.1"),
    "port": int(env("OCX_ENGINE_PORT", "5070")),
    "rtp_first": int(_rtp_first),
    "rtp_last": int(_rtp_last),
    "rtp_advertise": env("OCX_ENGINE_RTP_ADVERTISE", ""),
    "edge": env("OCX_ENGINE_EDGE", f"{OCX_SIP['host']}:{OCX_SIP['port']}"),
    "capacity": int(env("OCX_ENGINE_CAPACITY", "400")),
    "ring_timeout": float(env("OCX_ENGINE_RING_TIMEOUT", "60")),
    "park_timeout": float(env("OCX_ENGINE_PARK_TIMEOUT", "120")),
    "conference_capacity": int(env("OCX_ENGINE_CONFERENCE_CAPACITY", "500")),
    "drain": float(env("OCX_ENGINE_DRAIN", "30")),
    "rtp_timeout": float(env("OCX_ENGINE_RTP_TIMEOUT", "60")),
    "session_expires": float(env("OCX_ENGINE_SESSION_EXPIRES", "1800")),
    "min_se": int(env("OCX_ENGINE_MIN_SE", "90")),
    "lost_after": float(env("OCX_ENGINE_LOST_AFTER", "15")),
    # Busy lamps: the most lines one line may watch at once (RFC 4235 subscriptions; more: 403).
    "blf_max_per_line": int(env("OCX_BLF_MAX_PER_LINE", "100")),
}
# Feature applications the engines and edges load besides the built-in ones (telephony/engine/application.py).
OCX_ENGINE_APPLICATIONS = env_list("OCX_ENGINE_APPLICATIONS", "")
# The engine's spoken prompts (WAV files, made by espeak-ng when missing) and its recordings.
OCX_PROMPTS_DIR = env("OCX_PROMPTS_DIR", str(BASE_DIR / "var" / "prompts"))
OCX_RECORDINGS_DIR = env("OCX_RECORDINGS_DIR", str(OCX_VAR_DIR / "recordings"))
# Free space where recordings (and voicemail) live: under OCX_DISK_WARN the platform operators are
# mailed, under OCX_DISK_FULL no new recording starts (a share "10%" or an amount "2G"); the engine
# reads the disk at most every OCX_DISK_CHECK_SECONDS (recordings/disk.py).
OCX_DISK_WARN = env("OCX_DISK_WARN", "10%")
OCX_DISK_FULL = env("OCX_DISK_FULL", "2%")
OCX_DISK_CHECK_SECONDS = float(env("OCX_DISK_CHECK_SECONDS", "5"))
# Client webhooks (webhooks/): HTTPS only and public addresses only unless these say otherwise (the
# tests and a development machine); each POST's timeout in seconds; a failed delivery is tried again
# up to OCX_WEBHOOK_RETRIES times, OCX_WEBHOOK_BACKOFF seconds after the first failure, doubling.
OCX_WEBHOOK_ALLOW_HTTP = env_bool("OCX_WEBHOOK_ALLOW_HTTP", False)
OCX_WEBHOOK_ALLOW_PRIVATE = env_bool("OCX_WEBHOOK_ALLOW_PRIVATE", False)
OCX_WEBHOOK_TIMEOUT = float(env("OCX_WEBHOOK_TIMEOUT", "5"))
OCX_WEBHOOK_RETRIES = int(env("OCX_WEBHOOK_RETRIES", "8"))
OCX_WEBHOOK_BACKOFF = float(env("OCX_WEBHOOK_BACKOFF", "30"))
OCX_WEBHOOK_LOG_DAYS = int(env("OCX_WEBHOOK_LOG_DAYS", "30"))  # deliveries (and their attempts) kept this long
OCX_MESSAGES_DIR = env("OCX_MESSAGES_DIR", str(OCX_VAR_DIR / "messages"))  # the companies' message libraries
OCX_VOICEMAIL_DIR = env("OCX_VOICEMAIL_DIR", str(OCX_VAR_DIR / "voicemail"))  # boxes' greetings and messages
# A new message's mail carries its WAV up to this size; a bigger one gets a link to the portal instead.
OCX_VOICEMAIL_MAIL_MAX_BYTES = int(env("OCX_VOICEMAIL_MAIL_MAX_BYTES", str(10 * 1024 * 1024)))
# The largest audio file a message upload may be, refused before FFmpeg decodes it (a 5-minute WAV of
# 16-bit mono at 44.1 kHz is about 26 MB; compressed formats are far smaller).
OCX_AUDIO_UPLOAD_MAX_BYTES = int(env("OCX_AUDIO_UPLOAD_MAX_MB", "32")) * 1024 * 1024
# The most numbers one notification campaign calls (each outside number is a call the company pays for).
OCX_CAMPAIGN_MAX_NUMBERS = int(env("OCX_CAMPAIGN_MAX_NUMBERS", "2000"))
# Request bodies: form fields at most 2.5 MB in memory (Django's default, said here), files above
# 2.5 MB stream to a temporary file rather than memory, and a request carries at most 10 files.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 10
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Where each engine spools its call-record writes before PostgreSQL has them (records/spool.py);
# the engines of one host share it (a folder per database in it), so one takes over the spool of another
# that died.
OCX_CDR_SPOOL_DIR = env("OCX_CDR_SPOOL_DIR", str(OCX_VAR_DIR / "cdr-spool"))
# CDR exports and scheduled pushes (exports/): files of export jobs, the size a request may stream,
# how long late-committed records are still caught by a push, retry backoff, transfer timeout.
OCX_EXPORTS = {
    "dir": Path(env("OCX_EXPORTS_DIR", str(OCX_VAR_DIR / "exports"))),
    "stream_max_rows": int(env("OCX_EXPORT_STREAM_MAX_ROWS", "100000")),
    "keep_days": int(env("OCX_EXPORT_KEEP_DAYS", "7")),
    "push_lookback_hours": int(env("OCX_PUSH_LOOKBACK_HOURS", "24")),
    "push_retry_base": int(env("OCX_PUSH_RETRY_BASE", "60")),
    "push_retry_max": int(env("OCX_PUSH_RETRY_MAX", "3600")),
    "push_timeout": float(env("OCX_PUSH_TIMEOUT", "60")),
    "push_lease_seconds": int(env("OCX_PUSH_LEASE_SECONDS", "60")),
}
# Fernet keys for credentials stored at rest (push destinations), comma-separated, the first encrypts
# and all decrypt (rotation). Unset: a key derived from DJANGO_SECRET_KEY.
OCX_CREDENTIALS_KEY = env("OCX_CREDENTIALS_KEY", "")
# Mail (push failure alerts, password reset links): the console locally, SMTP when DJANGO_DEBUG=0 unless set.
EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "opencentrex@localhost")
# The address the portals tell users to set as their phones' proxy: the edge's, unless a public
# name or load balancer stands in front of it.
OCX_SIP_PROXY = env("OCX_SIP_PROXY", f"{OCX_SIP['host']}:{OCX_SIP['port']}")

SHARED_APPS = [
    "django_tenants",
    "tenants",
    "records",
    "billing",
    "pstn",
    "exports",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
]
# Apps whose tables live in every client's own schema.
TENANT_APPS = [
    "telephony",
    "conferencing",
    "voicemail",
    "recordings",
    "menus",
    "queues",
    "ringgroups",
    "webhooks",
    "chat",
    "im",
]
INSTALLED_APPS = ["daphne", *SHARED_APPS, *[app for app in TENANT_APPS if app not in SHARED_APPS]]

TENANT_MODEL = "tenants.Client"
TENANT_DOMAIN_MODEL = "tenants.Domain"
AUTH_USER_MODEL = "tenants.User"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tenants.api.errors.ApiNotFoundMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.security.ContentSecurityPolicyMiddleware",
    "tenants.routing.PortalMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.routing.ScopeGuardMiddleware",
    "tenants.i18n.LanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "tenants.second_factor.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

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
                "tenants.routing.portal_context",
                "tenants.security.csp_context",
                "im.views.im_context",
            ],
        },
    },
]

# Connections are not kept between requests by default: daphne runs each request's database work on a
# thread of its own, and persistent connections piled up per thread until PostgreSQL refused new ones
# ("too many clients", answered 500) under a burst of requests. A pooler (PgBouncer) is the way to
# reuse them in production.
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/opencentrex"),
        conn_max_age=int(env("OCX_DB_CONN_MAX_AGE", "0")),
    )
}
DATABASES["default"]["ENGINE"] = "tenants.postgresql"  # django-tenants', fewer SETs (its docstring)
# The test database's name (pytest-django): platform/test.py gives each run its own, so two checkouts
# can run their tests at once on one PostgreSQL.
if env("OCX_TEST_DB_NAME", ""):
    DATABASES["default"]["TEST"] = {"NAME": env("OCX_TEST_DB_NAME", "")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6380/0")
# Tests run on their own Redis database and key prefix so a running platform never sees them.
OCX_REDIS_PREFIX = env("OCX_REDIS_PREFIX", "ocx")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8's 5 s socket timeout races channels-redis' 5 s blocking pop (PITFALLS.md).
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "prefix": f"{OCX_REDIS_PREFIX}:asgi",
            # Every socket of one process shares ONE Redis queue (channels-redis' process-local
            # channels), and its default capacity, 100, is the whole process's: past it group_send drops
            # messages without an error (PITFALLS.md). Bounded still by the 60 s expiry.
            "capacity": 100_000,
        },
    },
    # Web chat's live events (chat/events.py): Redis pub/sub, one PUBLISH an event and none to receive,
    # where the layer above costs a process about eight Redis round trips an event and recipient. Live
    # only, as chat's sockets need: what was said is in PostgreSQL, and a socket that opens reads it.
    "chat": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "prefix": f"{OCX_REDIS_PREFIX}:chat:",
        },
    },
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{OCX_REDIS_PREFIX}:cache",
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_NAME = "ocx_session"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)  # (another Redis for the tasks, if wanted)
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", "ocx")
CELERY_TIMEZONE = "UTC"
# Seconds before a task a worker took but never acknowledged goes to another worker (acks_late tasks
# of a worker that was killed: webhooks' deliveries), and about how often workers look for such
# tasks; Celery's defaults for Redis. A task waiting for its retry longer than the visibility timeout
# would be given twice: webhooks' backoff stays under it.
_restore_every = max(1, int(env("OCX_CELERY_RESTORE_EVERY", "100")))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(env("OCX_CELERY_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": min(10, _restore_every),
    "unacked_restore_throttle": max(1, _restore_every // min(10, _restore_every)),
}
CELERY_BEAT_SCHEDULE_FILE = str(OCX_VAR_DIR / "celerybeat-schedule")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env_list(
    "DJANGO_PASSWORD_HASHERS",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"

LANGUAGE_CODE = "en"
# The portals' languages (locale/<code>/LC_MESSAGES/django.po). A page speaks its account's language, else
# its client's, else its brand's, else English (tenants/i18n.py); the API speaks English.
LANGUAGES = [("en", "English"), ("es", "Español"), ("fr", "Français"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "ocx_language"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or None  # collectstatic target in production
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve from the apps' static folders without collectstatic

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api.auth.TokenAuthentication",
        "tenants.api.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # (DRF's own three, its JSON one turning a body nested too deep into a 400)
    "DEFAULT_PARSER_CLASSES": [
        "tenants.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["rest_framework.filters.SearchFilter", "rest_framework.filters.OrderingFilter"],
    "DEFAULT_SCHEMA_CLASS": "tenants.api.schema.ApiSchema",
    "EXCEPTION_HANDLER": "tenants.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OpenCentrex API",
    "DESCRIPTION": "Hosted telephony platform: brands, clients, users and their telephony. "
    "Every object is scoped to the caller's level; other scopes' objects answer 404.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "conferencing.models.Campaign.Status",
        "CallDirectionEnum": "records.models.Cdr.Direction",
        "CallPartyEnum": ["caller", "callee"],
        "CarrierHealthStateEnum": ["in", "down", "out", "trial"],
        "RecordingModeEnum": "recordings.models.Mode",
        "LineRecordingModeEnum": "recordings.models.LineChoice",
        "RouteModeEnum": "pstn.models.OutboundRoute.Mode",
        "SupervisionModeEnum": ["monitor", "whisper", "barge"],
        "ChatStateEnum": "chat.models.Conversation.State",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("OCX_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
