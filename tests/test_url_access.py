"""Who may open what, over every URL pattern of the project.

The patterns come from Django's resolver, not from a hand-written list: a pattern added
without a row in ``ROUTES`` (or, for the Django admin, outside the rules of
``ADMIN_ROUTES``) fails ``test_every_url_pattern_has_a_row``.

Each pattern is requested with GET and POST by five roles: nobody logged in, the
administrator of the sphere, the administrator of another sphere, a support agent (staff
in the « Support » group) and a superuser. The web app is the sphere administrators'
only: everyone else gets the same answer as for a sphere that does not exist (404), and
nothing changes in the database. Every POST is also refused without a CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group as AuthGroup
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from communications.models import Communication, CommunicationEvent, Delivery, Send
from communications.tests.factories import CommunicationFactory
from spheres.models import Evaluation, Group, Learner, Membership, Sphere
from spheres.tests.factories import (
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "administrator", "outsider", "support", "superuser")


@dataclass
class World:
    sphere: Sphere
    group: Group
    learner: Learner
    evaluation: Evaluation
    communication: Communication
    send: Send


Kwargs = Callable[[World], dict[str, Any]]


def _none(w: World) -> dict[str, Any]:
    return {}


def _slug(w: World) -> dict[str, Any]:
    return {"slug": w.sphere.slug}


def _group(w: World) -> dict[str, Any]:
    return {"slug": w.sphere.slug, "group_id": w.group.pk}


def _learner(w: World) -> dict[str, Any]:
    return {"slug": w.sphere.slug, "learner_id": w.learner.pk}


def _evaluation(w: World) -> dict[str, Any]:
    return {"slug": w.sphere.slug, "evaluation_id": w.evaluation.pk}


def _communication(w: World) -> dict[str, Any]:
    return {"slug": w.sphere.slug, "pk": w.communication.pk}


def _send(w: World) -> dict[str, Any]:
    return {"slug": w.sphere.slug, "pk": w.communication.pk, "send_id": w.send.pk}


def _kind(w: World) -> dict[str, Any]:
    return {"slug": w.sphere.slug, "kind": "reminder"}


def _unsubscribe_token(w: World) -> dict[str, Any]:
    from communications.unsubscribe import unsubscribe_token

    return {"token": unsubscribe_token(learner_id=w.learner.pk, sphere_id=w.sphere.pk)}


@dataclass
class Route:
    """One URL pattern and what the sphere's administrator gets from it.

    ``get``/``post``: the status for the administrator (405: the method is refused).
    ``public``: open to everyone (``anonymous``: what a visitor gets, when it differs
    from what someone logged in gets); every other route sends an
    anonymous visitor to the login page and answers 404 to anyone who does not
    administer the sphere (the sphere list, which names no sphere, answers 200 with
    the user's own spheres).
    """

    name: str
    kwargs: Kwargs
    get: int
    post: int
    data: Callable[[World], dict[str, Any]] = field(default=_none)
    public: bool = False
    sphereless: bool = False
    anonymous: tuple[int, int] | None = None
    csrf_exempt: bool = False

    def __str__(self) -> str:
        return self.name


ROUTES = [
    # Someone logged in is sent on from the login page; a visitor gets the form back.
    Route("login", _none, get=302, post=302, public=True, anonymous=(200, 200)),
    Route("logout", _none, get=405, post=302, public=True, anonymous=(405, 302)),
    Route(
        "set_language",
        _none,
        get=302,
        post=302,
        data=lambda w: {"language": "en"},
        public=True,
    ),
    Route("spheres:list", _none, get=200, post=405, sphereless=True),
    Route("spheres:detail", _slug, get=302, post=405),
    Route("spheres:learners", _slug, get=200, post=405),
    Route(
        "spheres:learners_bulk",
        _slug,
        get=405,
        post=302,
        data=lambda w: {
            "learners": [w.learner.pk],
            "group": w.group.pk,
            "action": "ajouter",
        },
    ),
    # No file: « 400 » with the form's error
    Route("spheres:learners_import", _slug, get=405, post=400),
    Route("spheres:learner_clear_mark", _learner, get=405, post=302),
    Route("spheres:learner_resubscribe", _learner, get=200, post=302),
    Route("spheres:learner_detail", _learner, get=200, post=405),
    Route("spheres:learner_export", _learner, get=200, post=405),
    Route("spheres:learner_erase", _learner, get=200, post=302),
    Route("spheres:groups", _slug, get=200, post=405),
    Route(
        "spheres:group_create",
        _slug,
        get=405,
        post=302,
        data=lambda w: {"name": "Classe 5e B"},
    ),
    Route(
        "spheres:group_rename",
        _group,
        get=200,
        post=302,
        data=lambda w: {"name": "Classe 6e C"},
    ),
    # The only group of an active communication: refused until it is modified
    Route("spheres:group_delete", _group, get=200, post=400),
    Route("spheres:evaluations", _slug, get=200, post=405),
    # An empty form: « 400 » with the form's errors
    Route("spheres:evaluation_create", _slug, get=200, post=400),
    Route("spheres:evaluation_edit", _evaluation, get=200, post=400),
    Route("spheres:evaluation_delete", _evaluation, get=200, post=302),
    # School zone C and the reminder cap turned off (an unchecked box is not posted)
    Route(
        "spheres:settings",
        _slug,
        get=200,
        post=302,
        data=lambda w: {"school_zone": "C", "holiday_subdivision": "57"},
    ),
    # The learner's link in a reminder: a page with a button (GET), the unsubscription
    # (POST, also RFC 8058's one-click POST from a mail client: no cookie, no token).
    Route(
        "communications:unsubscribe",
        _unsubscribe_token,
        get=200,
        post=200,
        public=True,
        csrf_exempt=True,
    ),
    Route("communications:list", _slug, get=200, post=405),
    Route("communications:help", _slug, get=200, post=405),
    Route("communications:choose_kind", _slug, get=200, post=405),
    Route("communications:create", _kind, get=200, post=200),
    Route("communications:audience", _kind, get=405, post=200),
    Route("communications:detail", _communication, get=200, post=405),
    Route("communications:edit", _communication, get=200, post=200),
    Route("communications:duplicate", _communication, get=302, post=405),
    Route("communications:deactivate", _communication, get=200, post=302),
    Route("communications:effectiveness", _communication, get=200, post=405),
    Route("communications:preview", _communication, get=200, post=405),
    Route("communications:send_test", _communication, get=405, post=302),
    # Nobody to tell of a changed window here: the page says so, the POST sends nothing
    Route("communications:schedule_change", _communication, get=200, post=302),
    Route("communications:send_detail", _send, get=200, post=405),
    Route("communications:send_retry", _send, get=405, post=302),
]


def _patterns_with_names(
    patterns: list[URLPattern | URLResolver], namespace: str = ""
) -> Iterator[tuple[URLPattern, str]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace
            prefix = f"{namespace}{ns}:" if ns else namespace
            yield from _patterns_with_names(pattern.url_patterns, prefix)
        else:
            yield pattern, f"{namespace}{pattern.name or repr(pattern)}"


def _pattern_names(patterns: list[URLPattern | URLResolver]) -> Iterator[str]:
    return (name for _, name in _patterns_with_names(patterns))


def _app_pattern_names() -> list[str]:
    """Every pattern but the Django admin's and the ESP webhooks' (tested below)."""
    return [
        name
        for name in _pattern_names(get_resolver().url_patterns)
        if not name.startswith(("admin:", "anymail:"))
    ]


def _webhook_pattern_names() -> list[str]:
    return [
        name
        for name in _pattern_names(get_resolver().url_patterns)
        if name.startswith("anymail:")
    ]


def test_every_url_pattern_has_a_row():
    # given: every named pattern the resolver knows, outside the Django admin
    names = set(_app_pattern_names())
    # then: each has its row, and no row names a pattern that no longer exists
    assert names - {route.name for route in ROUTES} == set()
    assert {route.name for route in ROUTES} - names == set()


# --- The five roles --------------------------------------------------------------------


@pytest.fixture
def world(db) -> World:
    sphere = SphereFactory()
    group = GroupFactory(sphere=sphere)
    learner = LearnerFactory(sphere=sphere)
    Membership.objects.create(learner=learner, group=group)
    evaluation = EvaluationWindowFactory(
        evaluation=EvaluationFactory(sphere=sphere), group=group
    ).evaluation
    communication = CommunicationFactory(sphere=sphere)
    communication.groups.add(group)
    send = Send.objects.create(
        communication=communication, scheduled_for=timezone.now()
    )
    Delivery.objects.create(
        send=send,
        learner=learner,
        email=learner.email,
        identifiant=learner.identifiant,
        status=Delivery.Status.FAILED,
        error="550 mailbox unavailable",
    )
    return World(sphere, group, learner, evaluation, communication, send)


def _client_for(role: str, world: World, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if role == "anonymous":
        return client
    user = UserFactory(
        is_superuser=role == "superuser", is_staff=role in ("support", "superuser")
    )
    if role == "administrator":
        world.sphere.administrators.add(user)
    elif role == "outsider":
        SphereFactory().administrators.add(user)
    elif role == "support":
        # the group as its migration made it (the _support_group_in_database fixture)
        user.groups.add(AuthGroup.objects.get(name="Support"))
    client.force_login(user)
    return client


def _fingerprint() -> tuple:
    """What a refused request must leave untouched."""
    return (
        list(Group.objects.order_by("pk").values_list("pk", "name")),
        list(Evaluation.objects.order_by("pk").values_list("pk", "name")),
        list(Membership.objects.order_by("pk").values_list("learner", "group")),
        list(Communication.objects.order_by("pk").values_list("pk", "name", "state")),
        list(Delivery.objects.order_by("pk").values_list("pk", "status", "attempts")),
        Send.objects.count(),
        CommunicationEvent.objects.count(),
        list(Learner.objects.order_by("pk").values_list("pk", "is_active")),
        list(
            Sphere.objects.order_by("pk").values_list(
                "pk", "school_zone", "holiday_subdivision", "one_reminder_per_day"
            )
        ),
    )


def _expected(route: Route, role: str, method: str) -> int:
    admin_status = route.get if method == "get" else route.post
    if route.public:
        if role == "anonymous" and route.anonymous:
            return route.anonymous[0 if method == "get" else 1]
        return admin_status
    if role == "anonymous":
        return 302
    if admin_status == 405:
        return 405
    if role == "administrator" or route.sphereless:
        return admin_status
    return 404


CASES = [
    pytest.param(route, role, method, id=f"{method} {route.name} as {role}")
    for route in ROUTES
    for role in ROLES
    for method in ("get", "post")
]


@pytest.mark.parametrize(("route", "role", "method"), CASES)
@pytest.mark.usefixtures("_support_group_in_database")
def test_url_answers_each_role(world, route, role, method):
    # given
    client = _client_for(role, world)
    url = reverse(route.name, kwargs=route.kwargs(world))
    before = _fingerprint()
    # when
    response = getattr(client, method)(
        url, route.data(world) if method == "post" else {}
    )
    # then
    expected = _expected(route, role, method)
    assert response.status_code == expected, (
        response.status_code,
        response.content.decode()[:1500],
    )
    if expected == 302 and role == "anonymous" and not route.public:
        assert response["Location"].startswith(reverse("login"))
    if role != "administrator" and not route.public:
        assert _fingerprint() == before


POST_ROUTES = [route for route in ROUTES if route.post != 405 and not route.csrf_exempt]


def test_csrf_exemptions_are_the_declared_ones():
    # given: the views Django will not check, found on the resolver's callbacks
    exempt = {
        name
        for name in _app_pattern_names()
        if getattr(_callback(name), "csrf_exempt", False)
    }
    # then: only the one-click unsubscribe, declared in its row
    assert exempt == {route.name for route in ROUTES if route.csrf_exempt}
    assert exempt == {"communications:unsubscribe"}


def _callback(name: str) -> Any:
    for pattern, full_name in _patterns_with_names(get_resolver().url_patterns):
        if full_name == name:
            return pattern.callback
    raise LookupError(name)


@pytest.mark.parametrize("route", POST_ROUTES, ids=str)
def test_every_post_is_refused_without_csrf_token(world, route):
    # given: the sphere's administrator in a client that checks CSRF like a browser
    client = _client_for("administrator", world, csrf=True)
    url = reverse(route.name, kwargs=route.kwargs(world))
    before = _fingerprint()
    # when
    response = client.post(url, route.data(world))
    # then
    assert response.status_code == 403
    assert _fingerprint() == before


# --- The ESP's webhooks -----------------------------------------------------------------


def test_only_the_tracking_webhook_of_the_esp_in_use_is_mounted(settings):
    # given: the test settings: Postmark, and a webhook secret
    assert settings.ANYMAIL_ESP == "postmark"
    assert settings.ANYMAIL["WEBHOOK_SECRET"]
    # then: its tracking webhook is there (a bounce must reach the product), and no
    # other ESP's
    assert _webhook_pattern_names() == ["anymail:postmark_tracking_webhook"]


@pytest.mark.parametrize("name", _webhook_pattern_names(), ids=str)
def test_webhook_refuses_any_request_without_the_secret(world, name):
    # given: a logged-in superuser, whose session is worth nothing to a webhook
    client = _client_for("superuser", world)
    before = _fingerprint()
    # when
    get = client.get(reverse(name))
    post = client.post(reverse(name), b"{}", content_type="application/json")
    # then
    assert get.status_code in {400, 401, 403, 405}
    assert post.status_code in {400, 401, 403}
    assert _fingerprint() == before


# --- The Django admin ---------------------------------------------------------------------
#
# Its patterns come from the ModelAdmins: for each registered model, what support (the
# « Support » group) and a superuser may do there. Everyone else (a visitor, a sphere's
# administrator, who is not staff) is sent to the admin's log-in page, and nothing
# changes. A model registered without its row here fails
# ``test_every_admin_pattern_has_a_row``.


@dataclass(frozen=True)
class AdminModel:
    support_views: bool  # the « Support » group may view it (lists, pages, history)
    superuser_adds: bool = False  # else read-only for everyone: writes go through
    superuser_changes: bool = False  # the services, the sphere's pages, the commands
    superuser_deletes: bool = False


READ_ONLY = AdminModel(support_views=True)
ADMIN_MODELS = {
    "spheres.sphere": READ_ONLY,
    "spheres.group": READ_ONLY,
    "spheres.learner": READ_ONLY,
    "spheres.dailyactivity": READ_ONLY,
    "spheres.evaluation": READ_ONLY,
    "spheres.undeliverableaddress": READ_ONLY,
    "spheres.learnererasure": READ_ONLY,
    "spheres.schoolholiday": READ_ONLY,
    "communications.communication": READ_ONLY,
    "communications.communicationevent": READ_ONLY,
    "communications.send": READ_ONLY,
    "communications.delivery": READ_ONLY,
    # log-in lock-outs: support sees them, a superuser lifts one by deleting it
    "axes.accessattempt": AdminModel(True, False, True, True),
    "axes.accessfailurelog": AdminModel(True, False, True, True),
    "axes.accesslog": AdminModel(True, False, True, True),
    # accounts and their groups: a superuser's only
    "accounts.user": AdminModel(False, True, True, True),
    "auth.group": AdminModel(False, True, True, True),
}
LOGIN = (302, "/admin/login/")
TO_INDEX = (302, "/admin/")
LOGGED_OUT = (302, "/connexion/")


@dataclass(frozen=True)
class SitePage:
    """One of the admin site's own patterns: (GET, POST) for each role."""

    kwargs: Callable[[World], dict[str, Any]]
    visitor: tuple[Any, Any]  # anonymous, and a sphere's administrator (not staff)
    support: tuple[Any, Any]
    superuser: tuple[Any, Any]


def _view_on_site(w: World) -> dict[str, Any]:
    from django.contrib.contenttypes.models import ContentType

    return {
        "content_type_id": ContentType.objects.get_for_model(Sphere).pk,
        "object_id": w.sphere.pk,
    }


ADMIN_SITE = {
    "admin:index": SitePage(_none, (LOGIN, LOGIN), (200, 200), (200, 200)),
    # the form to everyone not yet in; staff already in go on to the index
    "admin:login": SitePage(_none, (200, 200), (TO_INDEX, 200), (TO_INDEX, 200)),
    # logging out is a POST; someone not in is sent to the index (then to log in)
    "admin:logout": SitePage(
        _none, (TO_INDEX, TO_INDEX), (405, LOGGED_OUT), (405, LOGGED_OUT)
    ),
    "admin:password_change": SitePage(_none, (LOGIN, LOGIN), (200, 200), (200, 200)),
    "admin:password_change_done": SitePage(
        _none, (LOGIN, LOGIN), (200, 405), (200, 405)
    ),
    "admin:app_list": SitePage(
        lambda w: {"app_label": "spheres"}, (LOGIN, LOGIN), (200, 200), (200, 200)
    ),
    # no field named: refused to anyone
    "admin:autocomplete": SitePage(_none, (LOGIN, LOGIN), (403, 405), (403, 405)),
    "admin:jsi18n": SitePage(_none, (LOGIN, LOGIN), (200, 405), (200, 405)),
    # no model has a page on the site
    "admin:view_on_site": SitePage(
        _view_on_site, (LOGIN, LOGIN), (404, 404), (404, 404)
    ),
    # UserAdmin's own page: a superuser's
    "admin:auth_user_password_change": SitePage(
        lambda w: {"id": w.learner.pk}, (LOGIN, LOGIN), (403, 403), (200, 200)
    ),
}
MODEL_VIEWS = ("changelist", "add", "change", "delete", "history")
# One unnamed pattern per model (``<id>/`` redirects to ``<id>/change/``) and the
# admin's final catch-all (unknown admin addresses: 404, or the log-in page).
UNNAMED = {
    "admin:<URLPattern '<path:object_id>/'>",
    "admin:<URLPattern '(?P<url>.*)$'>",
}


def _admin_rows() -> dict[str, Callable[[], Any]]:
    from tests.test_support_back_office import MODELS

    rows: dict[str, Callable[[], Any]] = {
        f"{app}.{model}": make for app, model, make in MODELS
    }
    rows["accounts.user"] = UserFactory
    rows["auth.group"] = lambda: AuthGroup.objects.create(name="Secrétariat")
    seen = {
        "user_agent": "Firefox",
        "ip_address": "192.0.2.7",
        "username": "prof@ecole.example",
        "http_accept": "text/html",
        "path_info": "/connexion/",
    }
    rows["axes.accessattempt"] = lambda: AccessAttempt.objects.create(
        **seen, get_data="", post_data="", failures_since_start=5
    )
    rows["axes.accessfailurelog"] = lambda: AccessFailureLog.objects.create(**seen)
    rows["axes.accesslog"] = lambda: AccessLog.objects.create(**seen)
    return rows


def test_every_admin_pattern_has_a_row():
    from django.contrib import admin

    # given: the admin patterns the resolver knows, and the registered models
    names = [
        name
        for name in _pattern_names(get_resolver().url_patterns)
        if name.startswith("admin:")
    ]
    registered = {model._meta.label_lower for model in admin.site._registry}
    # then: every model has its row (and a row to make one of it)
    assert registered == set(ADMIN_MODELS)
    assert set(_admin_rows()) >= registered
    # and every pattern is the site's, a model's view, or an unnamed one
    per_model = {
        f"admin:{label.replace('.', '_')}_{view}"
        for label in ADMIN_MODELS
        for view in MODEL_VIEWS
    }
    assert set(names) - UNNAMED == set(ADMIN_SITE) | per_model
    assert names.count("admin:<URLPattern '<path:object_id>/'>") == len(ADMIN_MODELS)


def _admin_expected(
    spec: AdminModel, view: str, role: str, method: str
) -> int | tuple[int, str]:
    """The status, or (302, where) for a redirection."""
    if role in ("anonymous", "administrator", "outsider"):
        return (302, reverse("admin:login"))
    reads = view in ("changelist", "history") or (view == "change" and method == "get")
    if role == "support":
        # a POST to a list without an action, or to a history, only shows it again
        return 200 if spec.support_views and reads else 403
    if reads:
        return 200
    if view == "change":  # a POST
        return 200 if spec.superuser_changes else 403
    allowed = spec.superuser_adds if view == "add" else spec.superuser_deletes
    if not allowed:
        return 403
    # a GET shows the form or the confirmation; a POST of an empty form shows its
    # errors, a confirmed deletion goes back to the list
    return 302 if (method, view) == ("post", "delete") else 200


ADMIN_CASES = [
    pytest.param(label, view, role, method, id=f"{method} {label} {view} as {role}")
    for label in ADMIN_MODELS
    for view in MODEL_VIEWS
    for role in ROLES
    for method in ("get", "post")
]


@pytest.mark.parametrize(("label", "view", "role", "method"), ADMIN_CASES)
@pytest.mark.usefixtures("_support_group_in_database")
def test_admin_answers_each_role(world, label, view, role, method):
    # given: one row of the model
    row = _admin_rows()[label]()
    app, model = label.split(".")
    args = [] if view in ("changelist", "add") else [row.pk]
    url = reverse(f"admin:{app}_{model}_{view}", args=args)
    client = _client_for(role, world)
    count = type(row)._default_manager.count()
    # when: a GET, or a POST of nothing (a delete POST confirms the deletion)
    response = getattr(client, method)(url, {"post": "yes"} if view == "delete" else {})
    # then
    expected = _admin_expected(ADMIN_MODELS[label], view, role, method)
    if isinstance(expected, tuple):
        assert response.status_code == expected[0]
        assert response["Location"].startswith(expected[1])
    else:
        assert response.status_code in (
            {expected, 302}
            if (method, role, expected) == ("post", "superuser", 200)
            else {expected}
        ), response.status_code
    if role != "superuser":
        assert type(row)._default_manager.count() == count


SITE_CASES = [
    pytest.param(name, role, method, id=f"{method} {name} as {role}")
    for name in ADMIN_SITE
    for role in ROLES
    for method in ("get", "post")
]


@pytest.mark.parametrize(("name", "role", "method"), SITE_CASES)
@pytest.mark.usefixtures("_support_group_in_database")
def test_admin_site_answers_each_role(world, name, role, method):
    # given
    page = ADMIN_SITE[name]
    kwargs = page.kwargs(world)
    if name == "admin:auth_user_password_change":
        kwargs = {"id": UserFactory().pk}
    client = _client_for(role, world)
    before = _fingerprint()
    # when
    response = getattr(client, method)(reverse(name, kwargs=kwargs))
    # then
    answers = {"support": page.support, "superuser": page.superuser}.get(
        role, page.visitor
    )
    expected = answers[0 if method == "get" else 1]
    if isinstance(expected, tuple):
        assert response.status_code == expected[0]
        assert response["Location"].startswith(expected[1]), response["Location"]
    else:
        assert response.status_code == expected
    assert _fingerprint() == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.usefixtures("_support_group_in_database")
def test_admin_unnamed_patterns_answer_each_role(world, role):
    # given: an object's short address (« <id>/ ») and an unknown admin address
    client = _client_for(role, world)
    short = f"/admin/spheres/sphere/{world.sphere.pk}/"
    # when
    redirect, unknown = client.get(short), client.get("/admin/nulle-part/")
    # then: staff are sent on to the object's page, or get a 404; others log in
    if role in ("support", "superuser"):
        assert (redirect.status_code, redirect["Location"]) == (302, f"{short}change/")
        assert unknown.status_code == 404
    else:
        for response in (redirect, unknown):
            assert response.status_code == 302
            assert response["Location"].startswith("/admin/login/")
