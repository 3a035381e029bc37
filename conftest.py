"""Fixtures shared by every app's tests, and the rule for tests needing real services.

A test that needs PostgreSQL, Redis or Chromium calls ``require(...)``: when the service
is not reachable it is skipped with the reason, unless ``REQUIRE_SERVICES=1`` (CI), where
the same situation fails the test.
"""

import pytest


@pytest.fixture
def sphere(db):
    from spheres.tests.factories import SphereFactory

    return SphereFactory()


@pytest.fixture
def admin_user(sphere):
    """A sphere administrator of ``sphere``."""
    from accounts.tests.factories import UserFactory

    user = UserFactory()
    sphere.administrators.add(user)
    return user


@pytest.fixture
def admin_client(client, admin_user):
    """A test client logged in as the administrator of ``sphere``."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def outsider_client(client, db):
    """A test client logged in as the administrator of another sphere."""
    from accounts.tests.factories import UserFactory
    from spheres.tests.factories import SphereFactory

    other = SphereFactory()
    user = UserFactory()
    other.administrators.add(user)
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language (French).

    LocaleMiddleware activates the language of each request in the current thread and
    nothing resets it: without this, a test that switches to English would leave the
    following tests in English.
    """
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def support_client(client, db):
    """A test client logged in as a staff member of the « Support » group (created by a
    migration), with no other right."""
    from django.contrib.auth.models import Group

    from accounts.tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client, db):
    from accounts.tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client
