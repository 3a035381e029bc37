"""Reads, always scoped to what the caller may see."""

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import (
    CharField,
    Count,
    Exists,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Lower, Upper
from django.db.models.lookups import Contains
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from voltaire_comms.db import in_subquery

from .models import (
    DailyActivity,
    Evaluation,
    EvaluationWindow,
    Group,
    Learner,
    Membership,
    Sphere,
    UndeliverableAddress,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from communications.models import Communication, Delivery


class OtherGroups(TypedDict):
    has_other_groups: bool


class SphereCounts(TypedDict):
    learner_count: int
    group_count: int


class LearnerCount(TypedDict):
    learner_count: int


class RecentMinutes(TypedDict):
    recent_minutes: int


# The learners list shows the minutes spent over this many days, today included.
RECENT_ACTIVITY_DAYS = 7
# Up to this many members, the learners of a group are read by their ids.
MEMBER_IDS_MAX = 5_000
# A learner's page shows their activity over this many days, and their latest messages.
LEARNER_PAGE_ACTIVITY_DAYS = 30
LEARNER_PAGE_MESSAGES = 50


def spheres_for_user(*, user: User) -> QuerySet[Sphere]:
    """The spheres this user administers (support staff use the Django admin)."""
    return Sphere.objects.filter(administrators=user).order_by("name")


def sphere_get_for_user(*, user: User, slug: str) -> Sphere:
    """The sphere if the user administers it, else ``Http404`` (never reveal it)."""
    try:
        return spheres_for_user(user=user).get(slug=slug)
    except Sphere.DoesNotExist:
        raise Http404 from None


def sphere_list_for_user(
    *, user: User
) -> "QuerySet[WithAnnotations[Sphere, SphereCounts]]":
    """The user's spheres with their numbers of learners and groups, in one query."""
    learners = (
        Learner.objects.filter(sphere=OuterRef("pk"))
        .order_by()
        .values("sphere")
        .annotate(n=Count("pk"))
        .values("n")
    )
    groups = (
        Group.objects.filter(sphere=OuterRef("pk"))
        .order_by()
        .values("sphere")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return spheres_for_user(user=user).annotate(
        learner_count=Coalesce(Subquery(learners, output_field=IntegerField()), 0),
        group_count=Coalesce(Subquery(groups, output_field=IntegerField()), 0),
    )


def sphere_today(*, sphere: Sphere, now: dt.datetime | None = None) -> dt.date:
    """Today's date on the sphere's wall clock."""
    return (now or timezone.now()).astimezone(sphere.tzinfo).date()


def group_get(*, sphere: Sphere, group_id: int) -> Group:
    """A group of this sphere, or ``Http404``."""
    try:
        return Group.objects.get(sphere=sphere, pk=group_id)
    except Group.DoesNotExist:
        raise Http404 from None


def groups_for_sphere(*, sphere: Sphere) -> QuerySet[Group]:
    return Group.objects.filter(sphere=sphere).order_by("name")


def groups_with_learner_counts(
    *, sphere: Sphere
) -> "QuerySet[WithAnnotations[Group, LearnerCount]]":
    """The sphere's groups, each with ``learner_count``, in one query."""
    return groups_for_sphere(sphere=sphere).annotate(learner_count=Count("memberships"))


class _SearchText(Func):
    """What the administrators' search looks into: ``UPPER(identifiant || ' ' ||
    first_name || ' ' || last_name || ' ' || email)``, the expression of the one trigram
    index of migration ``0012_learner_search_one_index`` (PostgreSQL uses the index
    only for this exact expression). A word has no space, so it cannot match across
    two fields."""

    template = "UPPER((%(expressions)s))"
    arg_joiner = " || ' ' || "
    output_field = CharField()

    def __init__(self) -> None:
        super().__init__("identifiant", "first_name", "last_name", "email")


def learner_search_word(word: str) -> Contains:
    """The learners whose identifiant, first name, last name or e-mail holds ``word``,
    in any case: one pattern over one indexed expression, rather than four ORed over
    four columns (which made PostgreSQL upper-case four columns of every row read)."""
    return Contains(_SearchText(), Upper(Value(word, output_field=CharField())))


def learners_list(
    *,
    sphere: Sphere,
    search: str = "",
    group: Group | None = None,
    without_group: bool = False,
    unsubscribed_only: bool = False,
    today: dt.date | None = None,
) -> "QuerySet[WithAnnotations[Learner, RecentMinutes]]":
    """The sphere's learners, filtered, each with ``recent_minutes`` and their groups.

    ``recent_minutes`` sums the activity of the last ``RECENT_ACTIVITY_DAYS`` days
    (today included, on the sphere's wall clock). It is a correlated subquery rather
    than a ``Sum`` over a join: joining both groups and activity rows would count each
    day once per group. A learner without activity in the window has 0.

    ``search`` matches identifiant, first name, last name or e-mail; several words must
    all match (« jean dupont »).
    """
    today = today or sphere_today(sphere=sphere)
    since = today - dt.timedelta(days=RECENT_ACTIVITY_DAYS - 1)
    recent = (
        DailyActivity.objects.filter(
            learner=OuterRef("pk"), date__gte=since, date__lte=today
        )
        .order_by()
        .values("learner")
        .annotate(total=Sum("minutes"))
        .values("total")
    )
    learners = Learner.objects.filter(sphere=sphere)
    for word in search.split():
        learners = learners.filter(learner_search_word(word))
    if unsubscribed_only:
        learners = learners.filter(unsubscribed_from_reminders_at__isnull=False)
    if without_group:
        learners = learners.filter(memberships__isnull=True)
    elif group is not None:
        # A group of a usual size is read by the members' ids (``in_subquery``), in
        # the same query: a join made PostgreSQL read the whole sphere to hash it.
        # Sending the ids from Python cost more than the query (psycopg parses a
        # query of 700 parameters in about a millisecond, twice per page).
        members = Membership.objects.filter(group=group).order_by().values("learner_id")
        if members[: MEMBER_IDS_MAX + 1].count() <= MEMBER_IDS_MAX:
            learners = learners.filter(in_subquery("pk", members))
        else:
            learners = learners.filter(memberships__group=group)
    if search.split():
        # The matches come from the trigram index and are sorted, without regard to
        # case. In the order of the name index, the one PostgreSQL's planner prefers for
        # a page of 50, a common name in the middle of the alphabet (« Martin ») made it
        # read half the sphere before the first match.
        ordering: list[Any] = [Lower("last_name"), Lower("first_name"), "identifiant"]
    else:
        ordering = ["last_name", "first_name", "identifiant"]
    return (
        learners.annotate(
            recent_minutes=Coalesce(
                Subquery(recent, output_field=IntegerField()), Value(0)
            ),
            # Set when later sends skip this learner: the address failed for good.
            undeliverable_since=Subquery(
                UndeliverableAddress.objects.filter(
                    sphere_id=sphere.pk, email=Lower(OuterRef("email"))
                ).values("marked_at")[:1]
            ),
        )
        .prefetch_related(Prefetch("groups", queryset=Group.objects.order_by("name")))
        .order_by(*ordering, "pk")
    )


def _communication_model() -> type["Communication"]:
    # Imported when called: the communications app imports this one at module level.
    from communications.models import Communication

    return Communication


def group_active_communications(
    *, group: Group
) -> "QuerySet[WithAnnotations[Communication, OtherGroups]]":
    """The active communications that target ``group``, by name, each with
    ``has_other_groups``: whether it also targets another group.

    A communication whose only group this is would lose the audience its
    administrator chose with it.
    """
    targets = Group.communications.through.objects.filter(
        communication_id=OuterRef("pk")
    ).exclude(group_id=group.pk)
    return (
        group.communications.filter(state=_communication_model().State.ACTIVE)
        .annotate(has_other_groups=Exists(targets))
        .order_by("name", "pk")
    )


def evaluation_active_communications_by_group(
    *, evaluation: Evaluation, groups: Iterable[Group]
) -> dict[Group, list["Communication"]]:
    """For each of ``groups``, the active communications announcing ``evaluation`` to
    it, by name; groups that none targets are left out.

    A communication without any chosen group goes to every group of its sphere (it was
    made before the groups existed), so it targets each of them.
    """
    groups = list(groups)
    if not groups:
        return {}
    communications = list(
        evaluation.communications.filter(state=_communication_model().State.ACTIVE)
        .prefetch_related("groups")
        .order_by("name", "pk")
    )
    targeted: dict[Group, list[Communication]] = {}
    for group in groups:
        for communication in communications:
            chosen = {g.pk for g in communication.groups.all()}
            if not chosen or group.pk in chosen:
                targeted.setdefault(group, []).append(communication)
    return targeted


def evaluation_get(*, sphere: Sphere, evaluation_id: int) -> Evaluation:
    """An evaluation of this sphere, or ``Http404``."""
    try:
        return Evaluation.objects.get(sphere=sphere, pk=evaluation_id)
    except Evaluation.DoesNotExist:
        raise Http404 from None


def evaluations_for_sphere(*, sphere: Sphere) -> QuerySet[Evaluation]:
    """The sphere's evaluations with their windows and groups, and the communications
    that announce each of them (three queries in all)."""
    windows = EvaluationWindow.objects.select_related("group").order_by(
        "starts_at", "group__name"
    )
    communications = _communication_model().objects.order_by("name", "pk")
    return (
        Evaluation.objects.filter(sphere=sphere)
        .prefetch_related(
            Prefetch("windows", queryset=windows),
            Prefetch("communications", queryset=communications),
        )
        .order_by("-created_at", "name")
    )


def learner_get(*, sphere: Sphere, learner_id: int) -> Learner:
    """A learner of this sphere, or ``Http404``."""
    try:
        return Learner.objects.get(sphere=sphere, pk=learner_id)
    except Learner.DoesNotExist:
        raise Http404 from None


def learner_find(*, sphere: Sphere, text: str) -> Learner | None:
    """The learner an administrator means by ``text``: the one with that identifiant,
    else the first (by name) whose identifiant, names or address hold every word."""
    text = text.strip()
    if not text:
        return None
    learners = Learner.objects.filter(sphere=sphere)
    exact = learners.filter(identifiant__iexact=text).first()
    if exact is not None:
        return exact
    for word in text.split():
        learners = learners.filter(learner_search_word(word))
    return learners.order_by("last_name", "first_name", "identifiant").first()


def learner_get_with_groups(*, sphere: Sphere, learner_id: int) -> Learner:
    """A learner of this sphere with their groups (by name), or ``Http404``."""
    try:
        return (
            Learner.objects.filter(sphere=sphere, pk=learner_id)
            .prefetch_related(
                Prefetch("groups", queryset=Group.objects.order_by("name"))
            )
            .get()
        )
    except Learner.DoesNotExist:
        raise Http404 from None


def learner_undeliverable_mark(*, learner: Learner) -> UndeliverableAddress | None:
    """The « adresse en échec permanent » mark on the learner's address, if any."""
    if not learner.email:
        return None
    return UndeliverableAddress.objects.filter(
        sphere_id=learner.sphere_id, email=learner.email.lower()
    ).first()


def learner_recent_activity(
    *, learner: Learner, today: dt.date | None = None
) -> QuerySet[DailyActivity]:
    """The learner's days of activity over the last ``LEARNER_PAGE_ACTIVITY_DAYS``
    days (today included, on the sphere's wall clock), latest first."""
    today = today or sphere_today(sphere=learner.sphere)
    since = today - dt.timedelta(days=LEARNER_PAGE_ACTIVITY_DAYS - 1)
    return DailyActivity.objects.filter(
        learner=learner, date__gte=since, date__lte=today
    ).order_by("-date")


def learner_messages(*, learner: Learner) -> QuerySet["Delivery"]:
    """Every message of every send to the learner, latest send first, each with its
    send and communication."""
    from communications.models import Delivery

    return (
        Delivery.objects.filter(learner=learner)
        .select_related("send__communication")
        .order_by("-send__scheduled_for", "-pk")
    )
