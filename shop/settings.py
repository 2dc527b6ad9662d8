"""Project settings, read from the environment (see .env.example for every variable)."""
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime state of a development checkout: SQLite file, broker folders, generated key.
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def development_sandbox() -> dict[str, str]:
    """The Mailchimp sandbox a running `make run` wrote to var/dev-sandbox.env, if any.

    `make run` gives the sandbox's address and key to its own processes; this file lets a
    command typed beside it (`python manage.py sync_lists`) reach the same sandbox.
    """
    path = VAR_DIR / "dev-sandbox.env"
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    wanted = {"MAILCHIMP_API_URL", "MAILCHIMP_API_KEY"}
    return {name.strip(): value.strip() for name, value in pairs if name.strip() in wanted}


def development_secret_key() -> str:
    """A random key kept in var/ so sessions survive restarts of a development checkout."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG")
DEVELOPMENT = env_bool("SHOP_DEVELOPMENT", default=True)
SECRET_KEY = os.environ.get("SECRET_KEY") or ""
if not SECRET_KEY:
    if not (DEBUG or DEVELOPMENT):
        raise ImproperlyConfigured("SECRET_KEY must be set in production.")
    SECRET_KEY = development_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "shop.apps.ShopAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "shop.accounts",
    "shop.catalogue",
    "shop.cart",
    "shop.checkout",
    "mailchimp_integration",
    "subscriptions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

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
                "shop.context_processors.store",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The Celery worker is another process, so tests need the SQLite test database on disk.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:account"
LOGOUT_REDIRECT_URL = "catalogue:product_list"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
if "STATIC_ROOT" not in os.environ:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without it
STATICFILES_DIRS = [BASE_DIR / "shop" / "static"]  # the storefront's CSS
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}

# Security: secure defaults in production; SECURE_SSL_REDIRECT etc. follow HTTPS.
SECURE_SSL = env_bool("SECURE_SSL")
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = SECURE_SSL
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if SECURE_SSL else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL
SECURE_HSTS_PRELOAD = SECURE_SSL
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_SSL else None
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

STORE_NAME = os.environ.get("STORE_NAME", "Hilltop Goods")

# The cache holds the footer form's per-IP counters, so every web process must share it:
# CACHE_URL or REDIS_URL (Redis). Without either, each process counts in its own memory
# (LocMemCache): right for one development process, too lenient with several web workers.
CACHE_URL = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "shop",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Email (order confirmations). The console backend prints them in development.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@example.com")

# Celery. REDIS_URL is the production broker; without it, kombu's filesystem transport
# needs no server and a real worker process still runs every task (never in a request).
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
# A Redis broker that is down must cost a storefront request at most a second or two: the
# outbox rows are already written, and the sweeper sends them once the broker is back.
REDIS_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
}
if not REDIS_URL:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_BROKER_TRANSPORT_OPTIONS
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "300"))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "360"))
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Periodic jobs register themselves here (see each app's tasks for the entries).
CELERY_BEAT_SCHEDULE: dict = {}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Mailchimp integration: audiences and groups (mailchimp_integration/) -------------------
# MAILCHIMP_API_KEY from the environment wins over a key saved in the admin (stored
# encrypted with MAILCHIMP_ENCRYPTION_KEY, else a key derived from SECRET_KEY).
MAILCHIMP_API_KEY = os.environ.get("MAILCHIMP_API_KEY", "")
# Base URL, e.g. the sandbox http://127.0.0.1:8100/3.0; empty: https://<dc>.api.mailchimp.com/3.0
MAILCHIMP_API_URL = os.environ.get("MAILCHIMP_API_URL", "")
if DEVELOPMENT and not MAILCHIMP_API_KEY:
    # In development with no key set: the sandbox of a running `make run`, if there is one.
    _sandbox = development_sandbox()
    MAILCHIMP_API_KEY = _sandbox.get("MAILCHIMP_API_KEY", "")
    MAILCHIMP_API_URL = _sandbox.get("MAILCHIMP_API_URL", MAILCHIMP_API_URL)
MAILCHIMP_ENCRYPTION_KEY = os.environ.get("MAILCHIMP_ENCRYPTION_KEY", "")
MAILCHIMP_CONNECT_TIMEOUT = float(os.environ.get("MAILCHIMP_CONNECT_TIMEOUT", "3.05"))
MAILCHIMP_READ_TIMEOUT = float(os.environ.get("MAILCHIMP_READ_TIMEOUT", "20"))
# Simultaneous connections per process; Mailchimp allows 10 per account, so never more.
MAILCHIMP_MAX_CONNECTIONS = min(10, int(os.environ.get("MAILCHIMP_MAX_CONNECTIONS", "10")))
# Where all processes share the account's connection slots (Redis); empty: per process only.
MAILCHIMP_CONNECTION_LOCK_URL = os.environ.get("MAILCHIMP_CONNECTION_LOCK_URL", REDIS_URL)
# Transient errors (timeouts, 429, 5xx): tries per call, and the longest wait between them.
MAILCHIMP_RETRY_ATTEMPTS = int(os.environ.get("MAILCHIMP_RETRY_ATTEMPTS", "5"))
MAILCHIMP_RETRY_MAX_WAIT = float(os.environ.get("MAILCHIMP_RETRY_MAX_WAIT", "30"))
MAILCHIMP_SYNC_INTERVAL_MINUTES = int(os.environ.get("MAILCHIMP_SYNC_INTERVAL_MINUTES", "60"))
CELERY_BEAT_SCHEDULE["mailchimp-sync-lists"] = {
    "task": "mailchimp_integration.sync_lists_scheduled",
    "schedule": MAILCHIMP_SYNC_INTERVAL_MINUTES * 60.0,
}
# Finds a newly connected store within a minute (one cheap query once it has synced).
CELERY_BEAT_SCHEDULE["mailchimp-first-sync"] = {
    "task": "mailchimp_integration.sync_lists_first",
    "schedule": 60.0,
}

# --- Subscriptions: the outbox of pushes to Mailchimp (subscriptions/) ----------------------
# Hold every push (a staging copy of the store); they wait and go out when lifted. The admin's
# "Newsletter settings" page has the same switch.
SUBSCRIPTIONS_PUSHES_PAUSED = env_bool("SUBSCRIPTIONS_PUSHES_PAUSED")
# Transient errors (timeouts, 429, 5xx): attempts per push, backoff base and cap in seconds.
SUBSCRIPTIONS_PUSH_MAX_ATTEMPTS = int(os.environ.get("SUBSCRIPTIONS_PUSH_MAX_ATTEMPTS", "8"))
SUBSCRIPTIONS_RETRY_BASE_SECONDS = float(os.environ.get("SUBSCRIPTIONS_RETRY_BASE_SECONDS", "2"))
SUBSCRIPTIONS_RETRY_MAX_SECONDS = float(os.environ.get("SUBSCRIPTIONS_RETRY_MAX_SECONDS", "300"))
# More pending pushes than this at once go out in Mailchimp's bulk calls.
SUBSCRIPTIONS_BULK_THRESHOLD = int(os.environ.get("SUBSCRIPTIONS_BULK_THRESHOLD", "20"))
# The sweeper: how often, how long a push may wait before it is re-sent, and after how long
# a push left "sending" (its worker died) is sent again.
SUBSCRIPTIONS_SWEEP_INTERVAL_SECONDS = float(
    os.environ.get("SUBSCRIPTIONS_SWEEP_INTERVAL_SECONDS", "60")
)
SUBSCRIPTIONS_SWEEP_GRACE_SECONDS = float(os.environ.get("SUBSCRIPTIONS_SWEEP_GRACE_SECONDS", "30"))
SUBSCRIPTIONS_SENDING_STALE_SECONDS = float(
    os.environ.get("SUBSCRIPTIONS_SENDING_STALE_SECONDS", "600")
)
# The footer form: at most this many signups per IP address per window (seconds).
SUBSCRIPTIONS_FOOTER_RATE_LIMIT = int(os.environ.get("SUBSCRIPTIONS_FOOTER_RATE_LIMIT", "10"))
SUBSCRIPTIONS_FOOTER_RATE_WINDOW = int(os.environ.get("SUBSCRIPTIONS_FOOTER_RATE_WINDOW", "3600"))
CELERY_BEAT_SCHEDULE["subscriptions-push-sweep"] = {
    "task": "subscriptions.push_sweep",
    "schedule": SUBSCRIPTIONS_SWEEP_INTERVAL_SECONDS,
}
