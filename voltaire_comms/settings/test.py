"""Settings for the test suite: the base settings with fast hashing and mail in memory."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from .base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SECURE_SSL_REDIRECT = False
STORAGES["staticfiles"]["BACKEND"] = (  # noqa: F405
    "django.contrib.staticfiles.storage.StaticFilesStorage"
)
# A fixed key for tests only; real deployments set their own.
FIELD_ENCRYPTION_KEYS = ["tsEsMsQ8s-E6O27fcvEvT7PCpUB-LsMNrpjQiMRtCjE="]
# Static files are served by the finders in tests; there is no collected directory.
STATIC_ROOT = None

# The integration tests (tests/integration) start real processes on these settings: a
# Celery worker delivering to the tests' SMTP server (TEST_EMAIL_URL=smtp://host:port)
# and consuming a queue of their own (TEST_CELERY_QUEUE), so that runs sharing one Redis
# never take each other's tasks. Unset, mail stays in memory and the queue is the default.
if os.environ.get("TEST_EMAIL_URL"):
    _test_email = env.email_url("TEST_EMAIL_URL")  # noqa: F405
    EMAIL_BACKEND = _test_email["EMAIL_BACKEND"]
    EMAIL_HOST = _test_email["EMAIL_HOST"]
    EMAIL_PORT = _test_email["EMAIL_PORT"]
    EMAIL_HOST_USER = EMAIL_HOST_PASSWORD = ""
    EMAIL_USE_TLS = EMAIL_USE_SSL = False
    # A subclass of the SMTP backend that injects a fault (tests/integration/faults.py).
    EMAIL_BACKEND = os.environ.get("TEST_EMAIL_BACKEND", EMAIL_BACKEND)
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TEST_CELERY_QUEUE", "celery")
# The anymail tracking webhooks are mounted only with a secret (voltaire_comms/urls.py).
ANYMAIL_ESP = "postmark"
ANYMAIL = {**ANYMAIL, "WEBHOOK_SECRET": "test-webhook:not-a-real-secret"}
