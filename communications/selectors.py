"""Reads for communications, scoped to one sphere.

The audience rules (SPEC §3.2) live here once, as one SQL query, and are used both by the
form's live count and by the sending engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from django.db.models import (
    Count,
    Exists,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, Lower

from spheres.models import (
    DailyActivity,
    EvaluationWindow,
    Group,
    Learner,
    Membership,
    Sphere,
    UndeliverableAddress,
)
from spheres.selectors import sphere_today

from .models import EDITABLE_FIELDS, Communication, Delivery, Send


@dataclass(frozen=True)
class AudienceSpec:
    """Who a communication targets, whether saved or still being typed in the form."""

    sphere: Sphere
    kind: str
    all_learners: bool = False
    group_ids: tuple[int, ...] = ()
    evaluation_id: int | None = None
    max_minutes: int | None = None
    minutes_days: int | None = None
    max_level: int | None = None
    min_level: int | None = None
    never_started: bool = False
    inactive_days: int | None = None

    @classmethod
    def of(
        cls, communication: Communication, group_ids: tuple[int, ...] | None = None
    ) -> AudienceSpec:
        if group_ids is None:
            group_ids = tuple(communication.groups.values_list("pk", flat=True))
        return cls(
            sphere=communication.sphere,
            kind=communication.kind,
            all_learners=communication.all_learners,
            group_ids=group_ids,
            evaluation_id=communication.evaluation_id,
            max_minutes=communication.max_minutes,
            minutes_days=communication.minutes_days,
            max_level=communication.max_level,
            min_level=communication.min_level,
            never_started=communication.never_started,
            inactive_days=communication.inactive_days,
        )


def _fewer_minutes(
    candidates: Q, spec: AudienceSpec, first_day: dt.date
) -> QuerySet[Learner]:
    """The learners of ``candidates`` with fewer than ``spec.max_minutes`` minutes from
    ``first_day`` on, no recorded activity counting as 0.

    One join on the days of the window and one GROUP BY per learner: the sum is read
    from the (learner, date) index for the candidates only (the other criteria are
    applied first), instead of one correlated subquery per learner. The groups stay an
    EXISTS, so nothing can multiply the sum.
    """
    return (
        Learner.objects.filter(candidates, sphere_id=spec.sphere.pk)
        .alias(
            recent=FilteredRelation(
                "activity", condition=Q(activity__date__gte=first_day)
            ),
            minutes=Coalesce(Sum("recent__minutes"), 0),
        )
        .filter(minutes__lt=spec.max_minutes)
        .values("pk")
    )


def audience_condition(spec: AudienceSpec, *, today: dt.date | None = None) -> Q:
    """The audience of ``spec`` as a condition on ``Learner`` (learners of spec.sphere).

    Rules, applied afresh at each send: a sphere without groups sends to all its learners;
    a sphere with groups sends only to learners of the chosen groups (all groups when the
    communication was made for « tous les utilisateurs » before groups existed), so a
    learner without a group is never included. A learner in several chosen groups is one
    row (EXISTS, no join). The reminder criteria are combined with AND and are strict:
    « moins de 15 minutes » leaves out 15 minutes exactly; the minutes window is the last
    D days, today included; no recorded activity counts as 0 minutes.
    """
    today = today or sphere_today(sphere=spec.sphere)
    has_groups = Group.objects.filter(sphere_id=spec.sphere.pk)
    memberships = Membership.objects.filter(learner=OuterRef("pk"))
    if spec.all_learners:
        target = Exists(memberships) | ~Exists(has_groups)
    else:
        target = Exists(
            memberships.filter(
                group_id__in=spec.group_ids, group__sphere_id=spec.sphere.pk
            )
        )
    condition = Q(target)

    if spec.kind == Communication.Kind.EVALUATION:
        # Only learners with a window still to come in a targeted group have dates to
        # receive: the same windows as the message gives them.
        condition &= Exists(evaluation_windows_of_learner(spec))
    elif spec.kind == Communication.Kind.REMINDER:
        if spec.max_level is not None:
            condition &= Q(level__lt=spec.max_level)
        if spec.min_level is not None:
            condition &= Q(level__gte=spec.min_level)
        started = DailyActivity.objects.filter(learner=OuterRef("pk"), minutes__gt=0)
        if spec.never_started:
            condition &= ~Exists(started)
        if spec.inactive_days:
            since = today - dt.timedelta(days=spec.inactive_days - 1)
            condition &= ~Exists(started.filter(date__gte=since))
        if spec.max_minutes is not None and spec.minutes_days:
            # Last, over the learners every other criterion has kept.
            first_day = today - dt.timedelta(days=spec.minutes_days - 1)
            condition = Q(pk__in=_fewer_minutes(condition, spec, first_day))
    return condition


def audience(spec: AudienceSpec, *, today: dt.date | None = None) -> QuerySet[Learner]:
    """The learners a send of ``spec`` targets today (one query when evaluated)."""
    return Learner.objects.filter(
        audience_condition(spec, today=today), sphere=spec.sphere
    )


def undeliverable_address(sphere: Sphere) -> Exists:
    """Whether the outer learner's address is marked in permanent failure in ``sphere``."""
    return Exists(
        UndeliverableAddress.objects.filter(
            sphere_id=sphere.pk, email=Lower(OuterRef("email"))
        )
    )


@dataclass(frozen=True)
class AudienceSummary:
    reach: int  # active learners with a usable address: they would receive it
    no_email: int  # in the audience but without an e-mail address
    inactive: int  # in the audience but deactivated
    undeliverable: int  # in the audience, but their address is in permanent failure
    ungrouped: int  # left out for having no group (only when the sphere has groups)
    sample: list[Learner]


def audience_summary(spec: AudienceSpec, *, sample_size: int = 5) -> AudienceSummary:
    """The live figures of the form: one aggregate query, plus one for a few names."""
    condition = audience_condition(spec)
    has_groups = Exists(Group.objects.filter(sphere_id=spec.sphere.pk))
    no_group = ~Exists(Membership.objects.filter(learner=OuterRef("pk")))
    dead = undeliverable_address(spec.sphere)
    active_with_email = Q(is_active=True) & ~Q(email="")
    figures = Learner.objects.filter(sphere=spec.sphere).aggregate(
        reach=Count("pk", filter=condition & active_with_email & ~Q(dead)),
        no_email=Count("pk", filter=condition & Q(email="")),
        inactive=Count("pk", filter=condition & Q(is_active=False) & ~Q(email="")),
        undeliverable=Count("pk", filter=condition & active_with_email & Q(dead)),
        ungrouped=Count("pk", filter=Q(has_groups) & no_group),
    )
    sample = list(
        audience(spec)
        .filter(active_with_email & ~Q(dead))
        .order_by("last_name", "first_name")[:sample_size]
    )
    return AudienceSummary(sample=sample, **figures)


def evaluation_windows_of_learner(
    spec: AudienceSpec,
    learner: int | OuterRef | None = None,
    *,
    now: dt.datetime | None = None,
) -> QuerySet[EvaluationWindow]:
    """The windows of ``spec``'s evaluation that a learner can be told, best first.

    The one rule (SPEC §6), for the send, the preview and the test alike: among the
    groups the communication targets (every group of the learner when it targets none),
    the windows still to come (not ended), earliest first. ``learner``: a learner's id,
    or by default the outer learner of a query (``OuterRef("pk")``).
    """
    from django.utils import timezone

    windows = EvaluationWindow.objects.filter(
        evaluation_id=spec.evaluation_id,
        group__memberships__learner=OuterRef("pk") if learner is None else learner,
        ends_at__gt=now or timezone.now(),
    )
    if not spec.all_learners and spec.group_ids:
        windows = windows.filter(group_id__in=spec.group_ids)
    return windows.order_by("starts_at", "pk")


def learner_window(
    spec: AudienceSpec, *, learner_id: int, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime] | None:
    """The evaluation window a learner gets (``evaluation_windows_of_learner``)."""
    window = (
        evaluation_windows_of_learner(spec, learner_id, now=now)
        .values_list("starts_at", "ends_at")
        .first()
    )
    return (window[0], window[1]) if window else None


def send_counts(sends: Iterable[Send]) -> dict[int, dict[str, int]]:
    """Per send: counts by status and skip reason, in one query. « waiting » is what
    is still pending or being sent."""
    ids = [s.pk for s in sends]
    counts: dict[int, dict[str, int]] = {
        pk: dict.fromkeys([*Delivery.Status.values, "waiting"], 0) for pk in ids
    }
    rows = (
        Delivery.objects.filter(send_id__in=ids)
        .values("send_id", "status", "reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    in_flight = (Delivery.Status.PENDING, Delivery.Status.SENDING)
    for row in rows:
        entry = counts[row["send_id"]]
        entry[row["status"]] += row["n"]
        if row["status"] in in_flight:
            entry["waiting"] += row["n"]
        if row["status"] == Delivery.Status.SKIPPED:
            key = f"skipped_{row['reason']}"
            entry[key] = entry.get(key, 0) + row["n"]
    return counts


def communications_for_sphere(
    *, sphere: Sphere, state: str = "", kind: str = "", search: str = ""
) -> QuerySet[Communication]:
    """The sphere's communications for the list, filtered by state, type and words of
    their name, each with the id of its last send (``last_send_id``)."""
    communications = Communication.objects.filter(sphere=sphere)
    if state:
        communications = communications.filter(state=state)
    if kind:
        communications = communications.filter(kind=kind)
    for word in search.split():
        communications = communications.filter(name__icontains=word)
    last_send = Send.objects.filter(communication=OuterRef("pk")).order_by(
        "-scheduled_for", "-pk"
    )
    return (
        communications.annotate(last_send_id=Subquery(last_send.values("pk")[:1]))
        .select_related("sphere", "evaluation")
        .prefetch_related("groups")
        .order_by("state", "-created_at")
    )


def communication_get(*, sphere: Sphere, pk: int) -> Communication:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        Communication.objects.select_related("sphere", "evaluation"),
        sphere=sphere,
        pk=pk,
    )


def communication_initial(communication: Communication, *, copy: bool = False) -> dict:
    """Form values from a communication: for editing it, or (``copy``) for a duplicate.

    The password is never included: it is not sent back to the browser, and a copy must
    have it typed again. A copy is named « Copie de … » and starts today at the earliest.
    """
    from django.utils.translation import gettext as _

    initial = {f: getattr(communication, f) for f in EDITABLE_FIELDS}
    initial["evaluation"] = communication.evaluation_id
    initial["groups"] = list(communication.groups.values_list("pk", flat=True))
    initial["weekdays"] = [d for d in range(7) if communication.weekdays & (1 << d)]
    if copy:
        initial["name"] = _("Copie de %(name)s") % {"name": communication.name}
        today = sphere_today(sphere=communication.sphere)
        initial["start_date"] = max(initial["start_date"], today)
        if initial["end_date"] and initial["end_date"] < today:
            initial["end_date"] = None
    return initial


def ungrouped_count(*, sphere: Sphere) -> int:
    """Learners left out of every send for having no group (0 when the sphere has none)."""
    if not Group.objects.filter(sphere=sphere).exists():
        return 0
    return Learner.objects.filter(sphere=sphere, memberships__isnull=True).count()


@dataclass(frozen=True)
class CommunicationRow:
    communication: Communication
    audience: str
    frequency: str
    next_send: str
    last_send: str
    last_counts: dict[str, int] | None = None  # the last send's, by outcome


def communication_rows(
    communications: Iterable[Communication],
) -> list[CommunicationRow]:
    """What the list shows of each communication (groups must be prefetched)."""
    from django.utils import timezone
    from django.utils.translation import gettext as _

    from .schedule import Recurrence, describe_moment

    communications = list(communications)
    last_ids = [
        c.last_send_id for c in communications if getattr(c, "last_send_id", None)
    ]
    counts = send_counts(Send(pk=pk) for pk in last_ids) if last_ids else {}
    now = timezone.now()
    rows = []
    for c in communications:
        tz = c.sphere.timezone
        names = [g.name for g in c.groups.all()]
        if c.kind == Communication.Kind.EVALUATION and c.evaluation:
            prefix = f"{c.evaluation.name} — "
        else:
            prefix = ""
        audience = prefix + (", ".join(names) if names else _("Tous les utilisateurs"))
        if c.kind == Communication.Kind.REMINDER:
            audience += " — " + reminder_criteria_text(c)
        rows.append(
            CommunicationRow(
                communication=c,
                audience=audience,
                frequency=Recurrence.of(c).describe(),
                next_send=_next_send(c, tz, now, describe_moment),
                last_send=describe_moment(c.last_sent_at, tz, with_year=True)
                if c.last_sent_at
                else "",
                last_counts=counts.get(getattr(c, "last_send_id", None) or 0),
            )
        )
    return rows


def communication_upcoming(
    communication: Communication, *, count: int = 5
) -> list[str]:
    """The next sends of an active communication, in words, the first never in the
    past."""
    from django.utils import timezone

    from .schedule import Recurrence, describe_moment

    if not (communication.is_active and communication.next_send_at):
        return []
    tz = communication.sphere.timezone
    with_year = partial(describe_moment, with_year=True)
    upcoming = [_next_send(communication, tz, timezone.now(), with_year)]
    following = Recurrence.of(communication).occurrences(
        after=communication.next_send_at
    )
    for moment in following:
        if len(upcoming) >= count:
            break
        upcoming.append(with_year(moment, tz))
    return upcoming


def _next_send(c: Communication, tz: str, now: dt.datetime, describe) -> str:  # noqa: ANN001
    """« Prochain envoi » is never in the past: a send whose time has come is about to
    leave (beat dispatches within a minute)."""
    from django.utils.translation import gettext as _

    if not (c.next_send_at and c.is_active):
        return ""
    if c.next_send_at <= now:
        return str(_("imminent (dans la minute)"))
    return describe(c.next_send_at, tz)


def reminder_criteria_text(c: Communication) -> str:
    """« moins de 15 min sur 7 jours, niveau < 75 % », in French."""
    from django.utils.translation import gettext as _

    parts = []
    if c.max_minutes is not None:
        parts.append(
            _("moins de %(minutes)s min sur %(days)s jours")
            % {"minutes": c.max_minutes, "days": c.minutes_days}
        )
    if c.max_level is not None:
        parts.append(_("niveau inférieur à %(level)s %%") % {"level": c.max_level})
    if c.min_level is not None:
        parts.append(_("niveau d'au moins %(level)s %%") % {"level": c.min_level})
    if c.never_started:
        parts.append(_("jamais commencé"))
    if c.inactive_days:
        parts.append(_("inactifs depuis %(days)s jours") % {"days": c.inactive_days})
    return ", ".join(parts)
