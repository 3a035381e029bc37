"""Settings for every environment, read from environment variables with django-environ.

Defaults are embedded and need no server (SQLite, a filesystem broker, e-mails written
as files under ``var/``). Production sets the variables listed in ``.env.example``.
A malformed value raises ``ImproperlyConfigured`` at start, naming the variable.
"""

import os
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()


def _read(name: str, reader, **kwargs):
    """Read one variable, turning any parsing error into a one-line configuration error."""
    try:
        with warnings.catch_warnings():
            # django-environ warns before returning what it could not parse: the
            # checks below say it in one line instead.
            warnings.simplefilter("ignore", UserWarning)
            return reader(name, **kwargs)
    except ImproperlyConfigured:
        raise
    except Exception as exc:  # noqa: BLE001 - django-environ raises many kinds
        raise ImproperlyConfigured(f"{name} is malformed: {exc}") from exc


DEBUG = _read("DEBUG", env.bool, default=False)

SECRET_KEY = _read("SECRET_KEY", env.str, default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off (`make run` generates a local one)."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"  # noqa: S105

ALLOWED_HOSTS = _read(
    "ALLOWED_HOSTS", env.list, default=["127.0.0.1", "localhost"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = _read("CSRF_TRUSTED_ORIGINS", env.list, default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "anymail",
    "axes",
    "accounts",
    "spheres",
    "communications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.session_lifetime",
    "accounts.middleware.security_headers",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out log-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "voltaire_comms.urls"
WSGI_APPLICATION = "voltaire_comms.wsgi.application"

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
                "communications.context_processors.support",
            ],
        },
    },
]

# --- Cache ----------------------------------------------------------------------------
# Figures worth keeping a while (communications/effectiveness.py). Per process by
# default; one shared cache (rediscache://host:6379/2) lets every process see a
# change of a sphere's data at once (spheres/versions.py).
try:
    CACHES = {"default": _read("CACHE_URL", env.cache_url, default="locmemcache://")}
except ImproperlyConfigured as exc:  # django-environ does not name the variable
    raise ImproperlyConfigured(
        f"CACHE_URL is malformed: {exc} (expected e.g. rediscache://host:6379/2)"
    ) from exc

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": _read(
        "DATABASE_URL", env.db_url, default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    )
}
if not DATABASES["default"].get("ENGINE"):
    # django-environ returns an empty dict for a URL without a known scheme.
    raise ImproperlyConfigured(
        "DATABASE_URL is malformed: expected e.g. postgres://user:password@host:5432/name"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share one file: WAL lets readers go on while
    # one writer writes, and IMMEDIATE transactions wait for the lock instead of failing
    # with "database is locked" when two processes write at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "spheres:list"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out account or address before any password is
# checked; it authenticates no one itself.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language and time ----------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = _read("TIME_ZONE", env.str, default="Europe/Paris")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(
        f"TIME_ZONE is not a known time zone: {TIME_ZONE!r}"
    ) from exc
# The admin's dates and times in the application's French style (« 8 h 00 »).
FORMAT_MODULE_PATH = ["voltaire_comms.formats"]
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT: Path | None = Path(
    env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- E-mail ---------------------------------------------------------------------------
# Default: every message is written as a file under var/mail/, readable by a developer.
_email_url = _read("EMAIL_URL", env.str, default="") or "filemail://"
# An ESP through django-anymail: EMAIL_URL=anymail://postmark (the part after // is the
# module of anymail.backends); its credentials and the webhook secret come from the
# ANYMAIL_* variables, without the prefix (ANYMAIL_POSTMARK_SERVER_TOKEN,
# ANYMAIL_WEBHOOK_SECRET=user:password), as anymail's ANYMAIL setting expects them.
_esp = urlsplit(_email_url).netloc if _email_url.startswith("anymail://") else ""
if _email_url.startswith("anymail://"):
    if not _esp.isidentifier():
        raise ImproperlyConfigured(
            "EMAIL_URL is malformed: expected anymail://ESP, e.g. anymail://postmark"
        )
    _email = {"EMAIL_BACKEND": f"anymail.backends.{_esp}.EmailBackend"}
else:
    _email = _read("EMAIL_URL", env.email_url, default=_email_url)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
if EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
    # One .eml file per message, which a mail client opens.
    EMAIL_BACKEND = "communications.backends.EmlFileBackend"
# The ESP whose tracking webhook (bounces, complaints) is mounted, with a webhook secret.
ANYMAIL_ESP = _esp
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_")
}
# django-environ drops the leading "/" of a filemail path: read the path from the URL.
EMAIL_FILE_PATH = urlsplit(_email_url).path or str(VAR_DIR / "mail")
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _read("EMAIL_TIMEOUT", env.int, default=30)
DEFAULT_FROM_EMAIL = _read(
    "DEFAULT_FROM_EMAIL",
    env.str,
    default="Voltaire Communications <no-reply@localhost>",
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Field encryption (the shared first-login password) ------------------------------
# Comma-separated Fernet keys: the first encrypts, all decrypt (key rotation). Checked
# at start (communications/apps.py and checks.py): with DEBUG off, a missing or
# malformed key stops the process.
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in _read("FIELD_ENCRYPTION_KEYS", env.list, default=[])
    if key.strip()
]

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = _read("CELERY_BROKER_URL", env.str, default="filesystem://")
CELERY_RESULT_BACKEND = _read("CELERY_RESULT_BACKEND", env.str, default="") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_URL.startswith("filesystem://"):
    # An embedded broker that needs no server and works across processes: each message
    # is a file under var/broker/. For development only (no visibility timeout).
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Poll often, so the worker also notices Ctrl-C within a second.
        "polling_interval": 0.5,
    }
    for _folder in ("queue", "control", "processed"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
# Redis redelivers a task not acknowledged within the visibility timeout: it must exceed
# every task's time limit and retry delay. Celery reads it from these three settings.
CELERY_VISIBILITY_TIMEOUT = _read("CELERY_VISIBILITY_TIMEOUT", env.int, default=3600)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        # How often a worker looks for the tasks of a dead worker (unacknowledged past
        # the timeout) to put back in the queue. kombu looks every 100 s whatever the
        # timeout; every tenth of the timeout (at most a minute) bounds the wait.
        "unacked_restore_interval": max(1, min(60, CELERY_VISIBILITY_TIMEOUT // 10)),
        "unacked_restore_throttle": 1,
    }
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT
    }
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Connections are closed around tasks by voltaire_comms/celery.py as Django closes them
# around requests (broken or older than CONN_MAX_AGE); this keeps Celery's Django fixup
# from closing them all after each task.
CELERY_DB_REUSE_MAX = 1_000_000

# --- Sending --------------------------------------------------------------------------
# How many messages one send task delivers over one SMTP connection. Each outcome is
# written as soon as the server has answered, so the chunk size no longer bounds the
# duplicates a killed worker can cause (one message at most); it amortises each task's
# fixed cost (claim, connection) and bounds the rows one task holds.
SEND_CHUNK_SIZE = _read("SEND_CHUNK_SIZE", env.int, default=400)
if SEND_CHUNK_SIZE < 1:
    raise ImproperlyConfigured("SEND_CHUNK_SIZE is malformed: expected at least 1")
# Seconds to wait after each failed attempt (4xx, time-out, lost connection) before the
# next one; as many retries as values, then the message is failed « abandoned after N
# attempts ».
SEND_RETRY_BACKOFF = _read(
    "SEND_RETRY_BACKOFF", env.list, cast=int, default=[30, 60, 120, 300, 600, 900]
)
if not SEND_RETRY_BACKOFF or min(SEND_RETRY_BACKOFF) < 0:
    raise ImproperlyConfigured(
        "SEND_RETRY_BACKOFF is malformed: expected seconds, e.g. 30,60,120,300,600,900"
    )
# A send task stops between two messages at the soft limit (the rest is enqueued
# again) and is killed at the hard one: the gap must cover one slow message (a few
# times EMAIL_TIMEOUT).
SEND_SOFT_TIME_LIMIT = _read("SEND_SOFT_TIME_LIMIT", env.int, default=240)
SEND_TIME_LIMIT = _read("SEND_TIME_LIMIT", env.int, default=300)
if not 0 < SEND_SOFT_TIME_LIMIT < SEND_TIME_LIMIT:
    raise ImproperlyConfigured(
        "SEND_SOFT_TIME_LIMIT and SEND_TIME_LIMIT are malformed: expected "
        "0 < SEND_SOFT_TIME_LIMIT < SEND_TIME_LIMIT (seconds)"
    )
if CELERY_VISIBILITY_TIMEOUT <= SEND_TIME_LIMIT:
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must exceed SEND_TIME_LIMIT: Redis would hand a "
        "running send task to a second worker"
    )
# Every this many seconds beat runs the recovery pass: messages whose retry time has
# come are enqueued, and rows of dead processes or lost tasks are taken back.
SEND_RESUME_INTERVAL = _read("SEND_RESUME_INTERVAL", env.int, default=15)
# Rows enqueued this long ago and never taken: their task was lost (a broker that lost
# its messages). Above the time a large send can wait in the queue.
SEND_QUEUE_TIMEOUT = _read("SEND_QUEUE_TIMEOUT", env.int, default=1800)
CELERY_TASK_ANNOTATIONS = {
    "communications.deliver_chunk": {
        "soft_time_limit": SEND_SOFT_TIME_LIMIT,
        "time_limit": SEND_TIME_LIMIT,
    }
}
# --- Retention (RGPD) ------------------------------------------------------------------
# Sends and their delivery rows are deleted this many days after their scheduled time,
# daily activity this many days after its date, every night by beat (an active
# announcement keeps only who already received it).
DELIVERY_RETENTION_DAYS = _read("DELIVERY_RETENTION_DAYS", env.int, default=365)
ACTIVITY_RETENTION_DAYS = _read("ACTIVITY_RETENTION_DAYS", env.int, default=730)
for _name in ("DELIVERY_RETENTION_DAYS", "ACTIVITY_RETENTION_DAYS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} is malformed: expected at least 1 (days)")

CELERY_BEAT_SCHEDULE = {
    "dispatch-due-communications": {
        "task": "communications.dispatch_due",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "resume-deliveries": {
        "task": "communications.resume_deliveries",
        "schedule": float(SEND_RESUME_INTERVAL),
        "options": {"expires": max(1, SEND_RESUME_INTERVAL - 1)},
    },
    # Every night (UTC), in batches: old send history, then old activity.
    "purge-old-deliveries": {
        "task": "communications.purge_deliveries",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 3600},
    },
    "purge-old-activity": {
        "task": "spheres.purge_activity",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 3600},
    },
}

# --- Product --------------------------------------------------------------------------
# Where administrators write for help (« Besoin d'aide ? »).
SUPPORT_EMAIL = _read("SUPPORT_EMAIL", env.str, default="support@projet-voltaire.fr")
# The learners' login URL, offered to messages as {lien_connexion}.
LEARNER_LOGIN_URL = _read(
    "LEARNER_LOGIN_URL", env.str, default="https://www.projet-voltaire.fr/"
)

# The public address of this site, with scheme and without a trailing slash: the
# unsubscribe links of the reminders (List-Unsubscribe, RFC 8058) are built on it, in
# a worker where there is no request to take it from.
SITE_URL = _read("SITE_URL", env.str, default="http://127.0.0.1:8000").rstrip("/")
_site = urlsplit(SITE_URL)
if (
    _site.scheme not in ("http", "https")
    or not _site.hostname
    or _site.query
    or _site.fragment
    or not SITE_URL.isascii()
    or any(char.isspace() or char in '<>"' for char in SITE_URL)
):
    raise ImproperlyConfigured(
        "SITE_URL is malformed: expected the site's public address, e.g. "
        "https://comms.example.org"
    )

# --- Security -------------------------------------------------------------------------
# Session and CSRF cookies only over HTTPS, unless DEBUG. SECURE_COOKIES=0 exists for a
# local benchmark over plain http (`make bench-web`) only; `check --deploy` flags it.
SECURE_COOKIES = _read("SECURE_COOKIES", env.bool, default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_SSL_REDIRECT = _read("SECURE_SSL_REDIRECT", env.bool, default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = _read(
    "SECURE_HSTS_SECONDS", env.int, default=0 if DEBUG else 31536000
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"
# A page of the application or of the admin never runs a script or applies a style it
# does not load from its own origin. Views showing an e-mail add the hashes of its fixed
# inline styles (communications.rendering.PREVIEW_CSP).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# --- Sessions -------------------------------------------------------------------------
# Seconds without a request after which a session ends (each request renews it), and
# seconds after the log-in after which it ends whatever the activity.
SESSION_IDLE_TIMEOUT = _read("SESSION_IDLE_TIMEOUT", env.int, default=2 * 3600)
SESSION_ABSOLUTE_LIFETIME = _read(
    "SESSION_ABSOLUTE_LIFETIME", env.int, default=12 * 3600
)
if not 0 < SESSION_IDLE_TIMEOUT <= SESSION_ABSOLUTE_LIFETIME:
    raise ImproperlyConfigured(
        "SESSION_IDLE_TIMEOUT and SESSION_ABSOLUTE_LIFETIME are malformed: expected "
        "0 < SESSION_IDLE_TIMEOUT <= SESSION_ABSOLUTE_LIFETIME (seconds)"
    )
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT
# A request renews the session's expiry when the last renewal is older than this
# (accounts.middleware): an idle session ends between SESSION_IDLE_TIMEOUT minus this
# and SESSION_IDLE_TIMEOUT after the last request, and pages read in a row write it
# once a minute, not at each page.
SESSION_RENEW_AFTER = 60
SESSION_SAVE_EVERY_REQUEST = False

# --- Log-in protection (django-axes) --------------------------------------------------
# Five failed log-ins for one account, or from one address, lock it out for fifteen
# minutes, on the application's log-in page as on the admin's. Each entry of
# AXES_LOCKOUT_PARAMETERS is counted on its own: either reaching the limit locks.
AXES_FAILURE_LIMIT = 5
# No banner at start: every manage.py command would print it.
AXES_VERBOSE = False
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# A try during the lock-out does not push its end back: the time the page gives holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_USERNAME_FORM_FIELD = "username"
# The address in lower case, as the log-in compares it: « Marie@X.fr » is « marie@x.fr ».
AXES_USERNAME_CALLABLE = "accounts.login_protection.username"
AXES_CLIENT_IP_CALLABLE = "accounts.login_protection.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout"
AXES_HTTP_RESPONSE_CODE = 429  # Too Many Requests
# How many reverse proxies in front of the application append to X-Forwarded-For.
# 0: the client is REMOTE_ADDR and X-Forwarded-For, which anyone can send, is ignored.
# N > 0: the client is the N-th address from the right of X-Forwarded-For (the one the
# outermost trusted proxy saw); what a client writes on its left is ignored.
AXES_IPWARE_PROXY_COUNT = _read("AXES_IPWARE_PROXY_COUNT", env.int, default=0)
if AXES_IPWARE_PROXY_COUNT < 0:
    raise ImproperlyConfigured(
        "AXES_IPWARE_PROXY_COUNT is malformed: expected 0 or more proxies"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": _read("LOG_LEVEL", env.str, default="INFO"),
    },
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # axes logs every log-in and its counter reset at INFO; its lock-outs and
        # failures are WARNING, and recorded in the database anyway.
        "axes": {"level": "WARNING"},
    },
}
