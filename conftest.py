"""Fixtures shared by every app's tests, and the rule for tests needing real services.

A test that needs PostgreSQL, Redis or Chromium calls ``require(...)``: when the service
is not reachable it is skipped with the reason, unless ``REQUIRE_SERVICES=1`` (CI), where
the same situation fails the test.
"""

import pytest


@pytest.fixture
def smtp_pipelining() -> bool:
    """Whether the tests' SMTP server offers PIPELINING, as production servers do. A
    test runs against both kinds with ``communications.tests.smtp.both_servers``."""
    return True


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
def _empty_cache():
    """Every test starts with an empty cache: ids start again in each test database
    transaction, and a figure cached by one test must not answer in the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


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


def _support_group():
    """The « Support » group as its migration made it.

    A transactional test empties every table when it ends (the test database is
    reused from run to run): then the group is made again by the migration's own
    function, on the models as they were at that migration."""
    import sys

    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    group = Group.objects.filter(name="Support").first()
    if group is not None:
        return group
    loader = MigrationLoader(connection)
    # The group's migration, then those that give it the view of a later model.
    for app, suffix, function in (
        ("communications", "_support_group", "create_group"),
        ("spheres", "_support_views_school_holidays", "grant"),
    ):
        key = next(
            key
            for key in loader.disk_migrations
            if key[0] == app and key[1].endswith(suffix)
        )
        module = sys.modules[type(loader.disk_migrations[key]).__module__]
        getattr(module, function)(loader.project_state(key).apps, None)
    return Group.objects.get(name="Support")


@pytest.fixture(scope="session")
def _support_group_in_database(django_db_setup, django_db_blocker):
    # Once per run, committed (transactional tests run last: they cannot empty it
    # before the tests that use it).
    with django_db_blocker.unblock():
        _support_group()


@pytest.fixture
def support_client(client, db, _support_group_in_database):
    """A test client logged in as a staff member of the « Support » group (created by a
    migration), with no other right."""
    from accounts.tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    user.groups.add(_support_group())
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client, db):
    from accounts.tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client
