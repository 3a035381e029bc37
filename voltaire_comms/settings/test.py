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
