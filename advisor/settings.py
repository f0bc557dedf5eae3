"""The one settings module. Every value comes from the environment (see ``.env.example``).

Two runtime modes, chosen by the environment only:

* embedded (no ``DATABASE_URL`` and no ``REDIS_URL``): SQLite under ``var/``, the in-memory channel
  layer, Celery tasks run in-process, the simulated exchange, the demo market. Needs nothing but
  Python; ``make demo`` runs it.
* production (``DATABASE_URL`` and ``REDIS_URL`` set): PostgreSQL, Redis as Celery broker, result
  store, cache and channel layer. Refuses to start without ``DJANGO_SECRET_KEY``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from signals.sentiment.runtime import PRECISIONS

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file), overwrite=False, parse_comments=True)

DATABASE_URL: str = env.str("DATABASE_URL", default="")
REDIS_URL: str = env.str("REDIS_URL", default="")
EMBEDDED = not DATABASE_URL and not REDIS_URL
RUNTIME_MODE = "embedded" if EMBEDDED else "production"

# Demo data and demo logins exist only where this is on; it defaults to on in the embedded mode.
DEMO_MODE: bool = env.bool("DEMO_MODE", default=EMBEDDED)

DEBUG: bool = env.bool("DJANGO_DEBUG", default=EMBEDDED)


def _secret_key() -> str:
    """Production needs an explicit key; the embedded demo keeps a generated one under var/."""
    key = env.str("DJANGO_SECRET_KEY", default="")
    if key:
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Production mode (DATABASE_URL or REDIS_URL is set) "
            "refuses to start without a secret key; see .env.example."
        )
    VAR_DIR.mkdir(exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS: list[str] = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if EMBEDDED else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "django_celery_beat",
    "django_prometheus",
    "portfolios",
    "signals",
    "trading",
    "advisor",
    "worker",
    "integrations",
    "backtests",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "advisor.api.middleware.ApiUtcMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "advisor.urls"
WSGI_APPLICATION = "advisor.wsgi.application"
ASGI_APPLICATION = "advisor.asgi.application"

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
                "advisor.context_processors.platform",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
if DATABASE_URL:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(VAR_DIR / "db.sqlite3")),
            "OPTIONS": {
                # WAL lets the web server read while the demo's market ticker writes.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer, Celery ---------------------------------------------------------------
# Several processes sharing one Redis (parallel test workers, several deployments) keep their
# cache keys and channel groups apart by prefix.
REDIS_PREFIX: str = env.str("REDIS_PREFIX", default=os.environ.get("PYTEST_XDIST_WORKER", ""))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub: an event for a group is published once and each server process
            # relays it to its own sockets. (The list-based layer pops one message per socket
            # from Redis, which made an event reach 1,000 sockets in about half a second.)
            "BACKEND": "advisor.channel_layers.PlatformChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL}],
                "prefix": f"asgi{REDIS_PREFIX}",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

#: Push live events (positions, orders, fills, proposals) to browsers over Channels. Off in a
#: backtest's process, whose in-memory channel layer no browser can reach.
LIVE_EVENTS: bool = env.bool("LIVE_EVENTS", default=True)

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 86400
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A task whose worker died unacknowledged is redelivered after this many seconds (Redis broker).
CELERY_VISIBILITY_TIMEOUT: int = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "advisor.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation and time -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
MARKET_TIME_ZONE = "America/New_York"
# The firm's zone: "today" (a deposit's date, the tax year, the date a form may not pass) and the
# times pages show. New York by default, the market's zone, so that an evening in the US is not
# already tomorrow. Datetimes are stored in UTC, and the REST API speaks UTC whatever this is
# (advisor.api.middleware.ApiUtcMiddleware); trade dates always follow the market's zone.
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="") or MARKET_TIME_ZONE
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "advisor.staticfinders.PlotlyFinder",
]
STATIC_MANIFEST: bool = env.bool("DJANGO_STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
if not STATIC_MANIFEST:
    STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise expects it even when it serves from the finders

# --- Security -------------------------------------------------------------------------------------
# HTTPS is assumed in production; DJANGO_HTTPS=false is for plain-HTTP test servers on loopback.
HTTPS: bool = env.bool("DJANGO_HTTPS", default=not EMBEDDED)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
#: How long an API token works after it was issued; signing in again then issues a new one. A
#: password change or reset revokes the user's token at once.
API_TOKEN_LIFETIME_DAYS: int = env.int("API_TOKEN_LIFETIME_DAYS", default=30)
CSRF_COOKIE_HTTPONLY = False  # the live pages read it to send X-CSRFToken
SILENCED_SYSTEM_CHECKS: list[str] = []

# --- Email ----------------------------------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="advice@localhost")

# --- REST API ---------------------------------------------------------------------------------------
#: Trusted reverse proxies in front of the app, each appending to X-Forwarded-For (0: none, and the
#: client's address is the connection's). Sign-in limits and throttles key on that address, so a
#: client cannot pick it by sending the header itself.
NUM_PROXIES: int = env.int("DJANGO_NUM_PROXIES", default=0)
#: Who may read /metrics without signing in as staff: the Prometheus scrapers' networks.
METRICS_ALLOWED_NETWORKS: list[str] = env.list(
    "METRICS_ALLOWED_NETWORKS",
    default=["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)
for _network in METRICS_ALLOWED_NETWORKS:  # a typo fails at start-up, not on the first scrape
    try:
        ipaddress.ip_network(_network)
    except ValueError as _error:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_error}") from None
REST_FRAMEWORK = {
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults, with JSON bodies nested too deeply for the decoder a 400, not a 500.
    "DEFAULT_PARSER_CLASSES": [
        "advisor.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "advisor.api.exceptions.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "advisor.api.negotiation.ApiContentNegotiation",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="6000/minute"),
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
    },
}
#: Webhook deliveries may go to loopback, private and link-local addresses (off: public only).
WEBHOOK_ALLOW_PRIVATE_HOSTS: bool = env.bool("WEBHOOK_ALLOW_PRIVATE_HOSTS", default=False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Robo-advisor platform API",
    "DESCRIPTION": "Households, accounts, positions, tax lots, recommendations, rebalance "
    "proposals, orders and signals for integrations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # ids in paths (advisor.converters): whole numbers up to 2**63 - 1
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "advisor.api.schema.document_errors",
    ],
}

# --- Trading ----------------------------------------------------------------------------------------
BROKER: str = env.str("BROKER", default="simulated")
# Wall-clock delay of each simulated-exchange submission (0: instant). Lets the demo's fills arrive
# one by one, and fault drills stop a worker mid-execution.
SIMULATED_BROKER_LATENCY_MS: int = env.int("SIMULATED_BROKER_LATENCY_MS", default=0)
if BROKER not in {"simulated", "alpaca"}:
    raise ImproperlyConfigured(f"BROKER must be 'simulated' or 'alpaca', not {BROKER!r}")
TRADING_MODE: str = env.str("TRADING_MODE", default="paper")
if TRADING_MODE not in {"paper", "live"}:
    raise ImproperlyConfigured(f"TRADING_MODE must be 'paper' or 'live', not {TRADING_MODE!r}")
ALPACA_API_KEY: str = env.str("ALPACA_API_KEY", default="")
ALPACA_SECRET_KEY: str = env.str("ALPACA_SECRET_KEY", default="")
ALPACA_BASE_URL: str = env.str("ALPACA_BASE_URL", default="")
if BROKER == "alpaca" and not (ALPACA_API_KEY and ALPACA_SECRET_KEY):
    raise ImproperlyConfigured("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")

# --- Signals ----------------------------------------------------------------------------------------
SENTIMENT_BACKEND: str = env.str("SENTIMENT_BACKEND", default="embedded")
SENTIMENT_MODEL_DIR: str = env.str("SENTIMENT_MODEL_DIR", default="")
# The ``local`` backend's encoder: float32 (scores independent of batching), bfloat16 (on a CPU
# with bfloat16 arithmetic) or int8.
SENTIMENT_PRECISION: str = env.str("SENTIMENT_PRECISION", default="float32").strip().lower()
if SENTIMENT_PRECISION not in PRECISIONS:
    raise ImproperlyConfigured(
        f"SENTIMENT_PRECISION must be one of {', '.join(PRECISIONS)}, not {SENTIMENT_PRECISION!r}"
    )
ALPACA_DATA_FEED: str = env.str("ALPACA_DATA_FEED", default="iex")  # free accounts: IEX only
SIGNAL_RSS_FEEDS: str = env.str(
    "SIGNAL_RSS_FEEDS", default=""
)  # ";"-separated "URL" or "URL SYM1,SYM2"
SIGNAL_BOOK_FEEDS: list[str] = env.list(
    "SIGNAL_BOOK_FEEDS",
    default=["worker.feeds.simulated_book_feed"] if BROKER == "simulated" else [],
)

# --- Demo market ------------------------------------------------------------------------------------
DEMO_SEED: int = env.int("DEMO_SEED", default=20240101)
DEMO_TICK_SECONDS: float = env.float("DEMO_TICK_SECONDS", default=3.0)
DEMO_PIPELINE_MINUTES: float = env.float("DEMO_PIPELINE_MINUTES", default=10.0)

# --- Logging ----------------------------------------------------------------------------------------
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "advisor.logging.RedactSecretsFilter"},
        "repeats": {"()": "advisor.logging.RepeatedErrorFilter", "window": 60.0},
    },
    "formatters": {
        "plain": {
            "()": "advisor.logging.UtcFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # While Redis is down the pub/sub receiver logs the same traceback every second.
        "channels_redis.pubsub": {"filters": ["repeats"]},
    },
}
