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
    wanted = {"MAILCHIMP_API_URL", "MAILCHIMP_API_KEY", "SITE_URL"}
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
# Former SECRET_KEYs (comma-separated) still accepted while sessions, signatures and the
# stored Mailchimp key move to the new one (see `manage.py reencrypt_mailchimp_key`).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")

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
    "django_countries",
    "shop.accounts",
    "shop.catalogue",
    "shop.cart",
    "shop.checkout",
    "shop.promotions",
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
    "shop.checkout.middleware.CampaignAttributionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# A link restoring a stored cart (Mailchimp's abandoned-cart emails) works for this many days.
CART_RESTORE_MAX_AGE_DAYS = int(os.environ.get("CART_RESTORE_MAX_AGE_DAYS", "30"))
# The signed cookie keeping Mailchimp's campaign (mc_cid/mc_eid/mc_tc) beyond a session.
CAMPAIGN_ATTRIBUTION_COOKIE_DAYS = int(os.environ.get("CAMPAIGN_ATTRIBUTION_COOKIE_DAYS", "30"))

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
# Files served at the site's root by WhiteNoise, in development and production: /favicon.ico.
WHITENOISE_ROOT = BASE_DIR / "shop" / "public"

# Uploaded files: product pictures (the demo seed draws its own into MEDIA_ROOT).
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# The store serves MEDIA_ROOT at MEDIA_URL itself (Django's file view, read from disk on each
# request): enough for a catalogue's pictures on one server. WhiteNoise cannot do it, as it
# only knows the files present when the process starts. Set 0 when a front web server or a
# CDN serves MEDIA_ROOT at MEDIA_URL instead.
SERVE_MEDIA = env_bool("SERVE_MEDIA", default=MEDIA_URL.startswith("/"))
if SERVE_MEDIA and not MEDIA_URL.startswith("/"):
    raise ImproperlyConfigured("SERVE_MEDIA needs a MEDIA_URL on this site, like /media/.")

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
# How many reverse proxies of our own (load balancer, nginx) sit in front of the store. The
# customer's IP is then the right-most X-Forwarded-For entry they did not add (shop/http.py);
# 0 trusts the header not at all, since anyone can send it.
SHOP_TRUSTED_PROXY_COUNT = int(os.environ.get("SHOP_TRUSTED_PROXY_COUNT", "0"))
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

STORE_NAME = os.environ.get("STORE_NAME", "Hilltop Goods")
# The ISO 4217 currency of the prices, as Mailchimp's e-commerce store and orders carry it.
STORE_CURRENCY = os.environ.get("STORE_CURRENCY", "USD")
# The connected store's id is this prefix (else SITE_URL's host) plus the list id: set it to
# the same value on every deploy and staging copy of one shop, so they adopt one store.
MAILCHIMP_STORE_ID_PREFIX = os.environ.get("MAILCHIMP_STORE_ID_PREFIX", "")
# The country preselected at checkout and listed first (an ISO 3166 code, e.g. GB, US, DE).
STORE_DEFAULT_COUNTRY = os.environ.get("STORE_DEFAULT_COUNTRY", "GB").strip().upper()
COUNTRIES_FIRST = [STORE_DEFAULT_COUNTRY]
COUNTRIES_FIRST_BREAK = "──────────"

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
# Periodic jobs run on a queue of their own, so a backlog of sends never starves them; every
# worker consumes both (`-Q celery,maintenance`, see scripts/run_dev.py).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_MAINTENANCE_QUEUE = os.environ.get("CELERY_MAINTENANCE_QUEUE", "maintenance")
MAINTENANCE_TASKS = (
    "subscriptions.push_sweep", "subscriptions.push_prune",
    "mailchimp_integration.sync_lists_scheduled", "mailchimp_integration.sync_lists_first",
    "checkout.order_confirmation_sweep",
)


def celery_queues(default: str, maintenance: str) -> tuple[list, dict]:
    """Both queues (a worker consumes every queue listed), and the periodic jobs' routes."""
    from kombu import Exchange, Queue

    return (
        [Queue(name, Exchange(name), routing_key=name) for name in (default, maintenance)],
        {name: {"queue": maintenance} for name in MAINTENANCE_TASKS},
    )


CELERY_TASK_QUEUES, CELERY_TASK_ROUTES = celery_queues(
    CELERY_TASK_DEFAULT_QUEUE, CELERY_MAINTENANCE_QUEUE
)
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

# --- Checkout: order confirmations (shop/checkout/) ---------------------------------------
# The sweeper queues again a confirmation still unsent this long after the order (the broker
# was down, every retry failed, the worker died); past the give-up age it is left unsent.
CHECKOUT_CONFIRMATION_SWEEP_INTERVAL_SECONDS = float(
    os.environ.get("CHECKOUT_CONFIRMATION_SWEEP_INTERVAL_SECONDS", "300")
)
CHECKOUT_CONFIRMATION_GRACE_SECONDS = float(
    os.environ.get("CHECKOUT_CONFIRMATION_GRACE_SECONDS", "600")
)
CHECKOUT_CONFIRMATION_GIVE_UP_HOURS = float(
    os.environ.get("CHECKOUT_CONFIRMATION_GIVE_UP_HOURS", "72")
)
CHECKOUT_CONFIRMATION_SWEEP_BATCH = 500  # per run; the next run takes the rest
CELERY_BEAT_SCHEDULE["checkout-order-confirmation-sweep"] = {
    "task": "checkout.order_confirmation_sweep",
    "schedule": CHECKOUT_CONFIRMATION_SWEEP_INTERVAL_SECONDS,
}

# --- Mailchimp integration: audiences and groups (mailchimp_integration/) -------------------
# MAILCHIMP_API_KEY from the environment wins over a key saved in the admin, stored encrypted
# with the first of MAILCHIMP_ENCRYPTION_KEYS (comma-separated, newest first), else with a key
# derived from SECRET_KEY; the others and SECRET_KEY_FALLBACKS still decrypt it.
MAILCHIMP_API_KEY = os.environ.get("MAILCHIMP_API_KEY", "")
# Base URL, e.g. the sandbox http://127.0.0.1:8100/3.0; empty: https://<dc>.api.mailchimp.com/3.0
MAILCHIMP_API_URL = os.environ.get("MAILCHIMP_API_URL", "")
if DEVELOPMENT and not MAILCHIMP_API_KEY:
    # In development with no key set: the sandbox of a running `make run`, if there is one.
    _sandbox = development_sandbox()
    MAILCHIMP_API_KEY = _sandbox.get("MAILCHIMP_API_KEY", "")
    MAILCHIMP_API_URL = _sandbox.get("MAILCHIMP_API_URL", MAILCHIMP_API_URL)
# The store's public address (https://shop.example.com): Mailchimp's webhooks are registered
# at SITE_URL/mailchimp/webhooks/…; unset, none are (the admin says why). `make run`: the dev
# server, which its sandbox reaches.
SITE_URL = os.environ.get("SITE_URL", "")
if DEVELOPMENT and not SITE_URL:
    SITE_URL = development_sandbox().get("SITE_URL", "")
# MAILCHIMP_ENCRYPTION_KEY, the one-key name of earlier releases, is still read.
MAILCHIMP_ENCRYPTION_KEYS = env_list("MAILCHIMP_ENCRYPTION_KEYS") or env_list(
    "MAILCHIMP_ENCRYPTION_KEY"
)
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
# Webhook POSTs with a wrong secret answered 404 per IP per hour; past it, 429.
MAILCHIMP_WEBHOOK_REFUSALS_LIMIT = int(os.environ.get("MAILCHIMP_WEBHOOK_REFUSALS_LIMIT", "20"))
# Webhook events applied at once, except in a burst (this many stored in the last second):
# then once it settles, in one go, but none held longer than the wait (seconds).
MAILCHIMP_WEBHOOK_BURST_EVENTS = int(os.environ.get("MAILCHIMP_WEBHOOK_BURST_EVENTS", "20"))
MAILCHIMP_WEBHOOK_BURST_MAX_WAIT = float(os.environ.get("MAILCHIMP_WEBHOOK_BURST_MAX_WAIT", "5"))
# E-commerce records (products, …) sent to the connected store: the backoff of their retries.
ECOMMERCE_RETRY_BASE_SECONDS = float(os.environ.get("ECOMMERCE_RETRY_BASE_SECONDS", "2"))
ECOMMERCE_RETRY_MAX_SECONDS = float(os.environ.get("ECOMMERCE_RETRY_MAX_SECONDS", "300"))
# At most one call per cart in this many seconds (changes meanwhile go together).
ECOMMERCE_CART_INTERVAL_SECONDS = float(os.environ.get("ECOMMERCE_CART_INTERVAL_SECONDS", "60"))
# Stock taken by sales goes this long after the sale, one call per variant for all its sales.
ECOMMERCE_STOCK_DELAY_SECONDS = float(os.environ.get("ECOMMERCE_STOCK_DELAY_SECONDS", "300"))
# "Sync store data": seconds between looks at a running batch; a run without a heartbeat for
# this long belongs to a dead worker and is failed (resumable) by the watchdog.
ECOMMERCE_BACKFILL_POLL_SECONDS = float(os.environ.get("ECOMMERCE_BACKFILL_POLL_SECONDS", "2"))
ECOMMERCE_BACKFILL_STALE_SECONDS = float(
    os.environ.get("ECOMMERCE_BACKFILL_STALE_SECONDS", "600"))
CELERY_BEAT_SCHEDULE["mailchimp-ecommerce-backfill-watchdog"] = {
    "task": "mailchimp_integration.ecommerce_backfill_watchdog",
    "schedule": 60.0,
}
# E-commerce records not sent (a lost task, a dead worker) are queued again every minute.
CELERY_BEAT_SCHEDULE["mailchimp-ecommerce-sweep"] = {
    "task": "mailchimp_integration.ecommerce_sweep",
    "schedule": 60.0,
}
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
# Transient errors (timeouts, 429, 5xx): backoff base and cap in seconds, and the budget
# after which a subscription shows as failed (it is still tried every hour: nothing is lost).
SUBSCRIPTIONS_RETRY_BASE_SECONDS = float(os.environ.get("SUBSCRIPTIONS_RETRY_BASE_SECONDS", "2"))
SUBSCRIPTIONS_RETRY_MAX_SECONDS = float(os.environ.get("SUBSCRIPTIONS_RETRY_MAX_SECONDS", "300"))
SUBSCRIPTIONS_RETRY_BUDGET_HOURS = float(os.environ.get("SUBSCRIPTIONS_RETRY_BUDGET_HOURS", "72"))
# More subscriptions due at once than this go out in Mailchimp's bulk calls.
SUBSCRIPTIONS_BULK_THRESHOLD = int(os.environ.get("SUBSCRIPTIONS_BULK_THRESHOLD", "20"))
# A send's hard time limit (seconds); a claim older than this plus 15 s belongs to a dead
# worker, and the sweeper (every SUBSCRIPTIONS_SWEEP_INTERVAL_SECONDS) sends it again.
SUBSCRIPTIONS_PUSH_TIME_LIMIT = int(os.environ.get("SUBSCRIPTIONS_PUSH_TIME_LIMIT", "60"))
# A drain (the bulk path) runs at most this long, then the next drain goes on; every write
# renews its claims, so the dead-worker limit above holds for drains too.
SUBSCRIPTIONS_DRAIN_TIME_LIMIT = int(os.environ.get("SUBSCRIPTIONS_DRAIN_TIME_LIMIT", "600"))
SUBSCRIPTIONS_SWEEP_INTERVAL_SECONDS = float(
    os.environ.get("SUBSCRIPTIONS_SWEEP_INTERVAL_SECONDS", "30")
)
# How long a due subscription may wait for its own task before the sweeper sends it.
SUBSCRIPTIONS_SWEEP_GRACE_SECONDS = float(os.environ.get("SUBSCRIPTIONS_SWEEP_GRACE_SECONDS", "30"))
# After a call whose outcome is unknown (a timeout), an unsubscribe is checked again once a
# late call can no longer land (Mailchimp's longest processing time).
SUBSCRIPTIONS_UNKNOWN_OUTCOME_SECONDS = float(
    os.environ.get("SUBSCRIPTIONS_UNKNOWN_OUTCOME_SECONDS", "120")
)
# Finished attempts in the sync log are kept this many days.
SUBSCRIPTIONS_PUSH_RETENTION_DAYS = float(
    os.environ.get("SUBSCRIPTIONS_PUSH_RETENTION_DAYS", "90")
)
# The footer form: at most this many signups per IP address per window (seconds).
SUBSCRIPTIONS_FOOTER_RATE_LIMIT = int(os.environ.get("SUBSCRIPTIONS_FOOTER_RATE_LIMIT", "10"))
SUBSCRIPTIONS_FOOTER_RATE_WINDOW = int(os.environ.get("SUBSCRIPTIONS_FOOTER_RATE_WINDOW", "3600"))
CELERY_BEAT_SCHEDULE["subscriptions-push-sweep"] = {
    "task": "subscriptions.push_sweep",
    "schedule": SUBSCRIPTIONS_SWEEP_INTERVAL_SECONDS,
}
CELERY_BEAT_SCHEDULE["subscriptions-push-prune"] = {
    "task": "subscriptions.push_prune",
    "schedule": 6 * 3600.0,
}

# --- Two-way sync: Mailchimp's webhooks applied, and the hourly reconciliation ----------------
# Webhook events no task was queued for (the broker was down) are applied by this sweep; the
# reconciliation reads the members changed since its last run (catching missed webhooks).
MAILCHIMP_RECONCILE_MINUTES = int(os.environ.get("MAILCHIMP_RECONCILE_MINUTES", "60"))
CELERY_BEAT_SCHEDULE["subscriptions-webhooks-sweep"] = {
    "task": "subscriptions.webhooks_sweep",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["subscriptions-members-reconcile"] = {
    "task": "subscriptions.members_reconcile",
    "schedule": MAILCHIMP_RECONCILE_MINUTES * 60.0,
}
# A reconciliation or import running with no sign of life for this long lost its worker.
MAILCHIMP_MEMBER_RUN_STALE_MINUTES = int(os.environ.get("MAILCHIMP_MEMBER_RUN_STALE_MINUTES",
                                                        "15"))
CELERY_BEAT_SCHEDULE["subscriptions-member-runs-watchdog"] = {
    "task": "subscriptions.member_runs_watchdog",
    "schedule": 300.0,
}
CELERY_TASK_ROUTES.update({name: {"queue": CELERY_MAINTENANCE_QUEUE} for name in (
    "subscriptions.webhooks_sweep", "subscriptions.members_reconcile",
    "subscriptions.member_runs_watchdog")})
