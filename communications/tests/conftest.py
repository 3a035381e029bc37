import pytest

from communications.tests.smtp import SmtpServer


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on localhost, with Django's SMTP backend pointed at it."""
    server = SmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    yield server
    server.stop()
