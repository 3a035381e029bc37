"""Reads for communications, scoped to one sphere.

The audience rules (SPEC §3.2) live here once, as one SQL query, and are used both by the
form's live count and by the sending engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.contrib.postgres.fields import ArrayField
from django.db import connection, transaction
from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, Lower
from django.db.models.lookups import In

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
from voltaire_comms.db import jit_off

from .models import (
    EDITABLE_FIELDS,
    REMINDER_CRITERIA,
    AnnouncementReceipt,
    Communication,
    Delivery,
    Send,
)

if TYPE_CHECKING:
    from .schedule import Recurrence


@dataclass(frozen=True)
class AudienceSpec:
    """Who a communication targets, whether saved or still being typed in the form."""

    sphere: Sphere
    kind: str
    group_ids: tuple[int, ...] = ()  # the chosen groups; none: every group
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
            group_ids=group_ids,
            evaluation_id=communication.evaluation_id,
            **{field: getattr(communication, field) for field in REMINDER_CRITERIA},
        )

    @classmethod
    def of_values(
        cls, sphere: Sphere, kind: str, values: dict[str, Any]
    ) -> AudienceSpec:
        """From a form's cleaned values (partial input: what is missing is unset)."""
        evaluation = values.get("evaluation")
        criteria: dict[str, Any] = {
            field: values.get(field) for field in REMINDER_CRITERIA
        }
        criteria["never_started"] = bool(criteria["never_started"])
        return cls(
            sphere=sphere,
            kind=kind,
            group_ids=tuple(group.pk for group in values.get("groups") or ()),
            evaluation_id=evaluation.pk if evaluation else None,
            **criteria,
        )


def _with_fewer_minutes(
    learners: QuerySet[Learner], spec: AudienceSpec, first_day: dt.date
) -> QuerySet[Learner]:
    """``learners`` with fewer than ``spec.max_minutes`` minutes from ``first_day`` on,
    no recorded activity counting as 0.

    One join on the days of the window and one GROUP BY per learner, on the learners
    the other rules keep, which are the rows of the result: the learners are read
    once, and, their columns making the groups too wide to hash cheaply, PostgreSQL
    reads each candidate's days from the (learner, date) index (an index-only scan)
    rather than hashing the whole activity table. On a sphere of 100,000 learners and
    700,000 days of activity, a reminder over 50 groups: 170-237 ms, against 348-378
    ms for the former ``pk IN (GROUP BY learner id)``. The groups stay an EXISTS, so
    nothing can multiply the sum.
    """
    return learners.alias(
        recent=FilteredRelation("activity", condition=Q(activity__date__gte=first_day)),
        minutes=Coalesce(Sum("recent__minutes"), 0),
    ).filter(minutes__lt=spec.max_minutes)


@dataclass(frozen=True)
class Rule:
    """One condition of an audience. ``condition(candidates)`` is a condition on
    ``Learner``; ``candidates`` narrows what a costly rule has to look at (the learners
    the other rules keep), the others ignore it. A rule with ``narrow`` is applied to
    the audience by it, on the queryset the other rules have filtered (an aggregate
    cannot be a plain condition), and by ``condition`` where it is checked alone."""

    key: str
    condition: Callable[[Q], Q]
    narrow: Callable[[QuerySet[Learner]], QuerySet[Learner]] | None = None


def audience_groups_condition(spec: AudienceSpec) -> Q:
    """The groups rule of an audience, as a condition on ``Learner`` (SPEC §6): every
    learner when the sphere has no group, else the learners of the chosen groups, or
    of any group when none is chosen."""
    has_groups = Group.objects.filter(sphere_id=spec.sphere.pk)
    memberships = Membership.objects.filter(learner=OuterRef("pk"))
    if spec.group_ids:
        return Q(
            Exists(
                memberships.filter(
                    group_id__in=spec.group_ids, group__sphere_id=spec.sphere.pk
                )
            )
        )
    return Q(Exists(memberships)) | ~Q(Exists(has_groups))


def audience_rules(spec: AudienceSpec, *, today: dt.date | None = None) -> list[Rule]:
    """The audience of ``spec`` as named rules, all required (AND). The one source of
    the audience: the send, the live count, the preview and « Pourquoi ? » use them.

    Rules, applied afresh at each send (SPEC §6): a sphere without groups sends to all
    its learners; a sphere with groups sends only to learners of the chosen groups, or
    of any group when none is chosen (a communication made before the groups existed),
    so a learner without a group is never included. A learner in several chosen groups
    is one row (EXISTS, no join). The reminder criteria are strict: « moins de 15
    minutes » leaves out 15 minutes exactly; the minutes window is the last D days,
    today included; no recorded activity counts as 0 minutes.
    """
    today = today or sphere_today(sphere=spec.sphere)
    target = audience_groups_condition(spec)
    rules = [Rule("groups", lambda candidates: target)]

    if spec.kind == Communication.Kind.EVALUATION:
        # Only learners with a window still to come in a targeted group have dates to
        # receive: the same windows as the message gives them.
        window = Q(Exists(evaluation_windows_of_learner(spec)))
        rules.append(Rule("window", lambda candidates: window))
    elif spec.kind == Communication.Kind.REMINDER:
        if spec.max_minutes is not None and spec.minutes_days:
            first_day = today - dt.timedelta(days=spec.minutes_days - 1)
            fewer = partial(_with_fewer_minutes, spec=spec, first_day=first_day)
            rules.append(
                Rule(
                    "max_minutes",
                    lambda candidates: Q(
                        pk__in=fewer(
                            Learner.objects.filter(candidates, sphere_id=spec.sphere.pk)
                        ).values("pk")
                    ),
                    narrow=fewer,
                )
            )
        if spec.max_level is not None:
            below = Q(level__lt=spec.max_level)
            rules.append(Rule("max_level", lambda candidates: below))
        if spec.min_level is not None:
            at_least = Q(level__gte=spec.min_level)
            rules.append(Rule("min_level", lambda candidates: at_least))
        started = DailyActivity.objects.filter(learner=OuterRef("pk"), minutes__gt=0)
        if spec.never_started:
            never = ~Q(Exists(started))
            rules.append(Rule("never_started", lambda candidates: never))
        if spec.inactive_days:
            since = today - dt.timedelta(days=spec.inactive_days - 1)
            idle = ~Q(Exists(started.filter(date__gte=since)))
            rules.append(Rule("inactive_days", lambda candidates: idle))
    return rules


def audience(
    spec: AudienceSpec, *, today: dt.date | None = None, ungrouped: bool = False
) -> QuerySet[Learner]:
    """The learners a send of ``spec`` targets today (one query when evaluated): every
    rule of ``audience_rules``; the costly minutes rule last, over the learners every
    other rule has kept. With that rule the queryset is grouped by learner (one row
    each): counting it or filtering it stays correct, Django wraps what needs it.

    ``ungrouped``: the same learners as a plain filter (``pk IN`` the grouped query),
    for a query that computes columns per learner (the dispatch's INSERT): grouped,
    those columns would join the GROUP BY and be computed once per day of activity."""
    rules = audience_rules(spec, today=today)
    condition = Q()
    for rule in rules:
        if rule.narrow is None:
            condition &= rule.condition(Q())
    learners = Learner.objects.filter(condition, sphere=spec.sphere)
    narrowing = [rule.narrow for rule in rules if rule.narrow is not None]
    for narrow in narrowing:
        learners = narrow(learners)
    if ungrouped and narrowing:
        return Learner.objects.filter(pk__in=learners.values("pk"))
    return learners


def undeliverable_address(sphere: Sphere) -> Q:
    """Whether the outer learner's address is marked in permanent failure in ``sphere``.

    An IN over the sphere's marked addresses, which PostgreSQL reads once into a hash,
    rather than an EXISTS it would run once per learner, and again for each figure
    that uses it: most of the live count's time on a sphere of 100,000 learners."""
    return Q(
        In(
            Lower("email"),
            UndeliverableAddress.objects.filter(sphere_id=sphere.pk)
            .order_by()
            .values("email"),
        )
    )


def unsubscribed(kind: str) -> Q | None:
    """The learners a send of ``kind`` leaves out for having unsubscribed: reminders
    only (SPEC §6: announcements and evaluation notices are service messages)."""
    if kind != Communication.Kind.REMINDER:
        return None
    return Q(unsubscribed_from_reminders_at__isnull=False)


@dataclass(frozen=True)
class AudienceSummary:
    reach: int  # active learners with a usable address: they would receive it
    no_email: int  # in the audience but without an e-mail address
    inactive: int  # in the audience but deactivated
    undeliverable: int  # in the audience, but their address is in permanent failure
    sample: list[Learner]
    unsubscribed: int = 0  # in the audience of a reminder, but unsubscribed from them


def audience_summary(spec: AudienceSpec, *, sample_size: int = 5) -> AudienceSummary:
    """The live figures of the form: one aggregate query over the audience, one count
    of the learners without a group, one query for a few names.

    The figures are counted over ``audience(spec)``, where the rules are a WHERE
    clause that PostgreSQL runs as joins, once. As FILTER clauses of an aggregate over
    every learner of the sphere they would run as one subquery per learner and per
    figure: over a second for a sphere of 100,000 learners.

    Unsubscribed learners (reminders only) are counted as the dispatcher records them:
    an active learner who unsubscribed, whatever their address.
    """
    dead = undeliverable_address(spec.sphere)
    active_with_email = Q(is_active=True) & ~Q(email="")
    left_out = unsubscribed(spec.kind)
    subscribed, no_email = active_with_email, Q(email="")
    extra: dict[str, Any] = {}
    if left_out is not None:
        # The dispatcher's order: an active unsubscribed learner is « unsubscribed »,
        # with an address or without.
        subscribed = active_with_email & ~left_out
        no_email &= ~(Q(is_active=True) & left_out)
        extra["unsubscribed"] = Count("pk", filter=Q(is_active=True) & left_out)
    reached = subscribed & ~Q(dead)
    ordering = ("last_name", "first_name")
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        # The first names come with the figures: the audience, whose minutes rule is
        # most of the cost, is computed once.
        extra["sample_ids"] = _FirstItems(
            ArrayAgg("pk", filter=reached, order_by=ordering), count=sample_size
        )
    with transaction.atomic():
        jit_off()  # compiling these queries costs more than it saves: they are short
        figures = audience(spec).aggregate(
            reach=Count("pk", filter=reached),
            no_email=Count("pk", filter=no_email),
            inactive=Count("pk", filter=Q(is_active=False) & ~Q(email="")),
            undeliverable=Count("pk", filter=subscribed & Q(dead)),
            **extra,
        )
        if postgresql:
            ids = figures.pop("sample_ids") or []
            found = Learner.objects.in_bulk(ids)
            sample = [found[pk] for pk in ids if pk in found]
        else:
            sample = list(
                audience(spec).filter(reached).order_by(*ordering)[:sample_size]
            )
    return AudienceSummary(sample=sample, **figures)


class _FirstItems(Func):
    """The first ``count`` items of a PostgreSQL array."""

    template = "(%(expressions)s)[1:%(count)d]"

    def __init__(self, expression: Any, *, count: int) -> None:
        super().__init__(
            expression, count=count, output_field=ArrayField(IntegerField())
        )


def _ungrouped(sphere: Sphere) -> QuerySet[Learner]:
    """The learners of ``sphere`` that no send includes for having no group: none when
    the sphere has no group (then every learner is in). One query when counted."""
    has_groups = Exists(Group.objects.filter(sphere_id=sphere.pk))
    no_group = ~Exists(Membership.objects.filter(learner=OuterRef("pk")))
    return Learner.objects.filter(has_groups, no_group, sphere=sphere)


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
        # no evaluation (it was deleted): no window
        Q(evaluation_id=spec.evaluation_id),
        group__memberships__learner=OuterRef("pk") if learner is None else learner,
        ends_at__gt=now or timezone.now(),
    )
    if spec.group_ids:
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
    # The last of its own scheduled sends: a skipped date, a weekly digest or a
    # schedule change notice is not one.
    last_send = (
        Send.objects.filter(
            communication=OuterRef("pk"), purpose=Send.Purpose.SCHEDULED
        )
        .exclude(status=Send.Status.SKIPPED)
        .order_by("-scheduled_for", "-pk")
    )
    return (
        communications.annotate(last_send_id=Subquery(last_send.values("pk")[:1]))
        .select_related("sphere", "evaluation")
        .order_by("state", "-created_at")
    )


def communication_history(communication: Communication) -> QuerySet[Send]:
    """The communication's sends, newest first; a skip once its time has passed (the
    ones to come are in « Prochains envois »)."""
    from django.utils import timezone

    return communication.sends.exclude(
        status=Send.Status.SKIPPED, scheduled_for__gt=timezone.now()
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
    return _ungrouped(sphere).count()


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
    """What the list shows of each communication, with the names of their groups read
    in one query: names only, as a list of 500 communications can target thousands of
    groups in all, too many to load as model instances."""
    from django.utils import timezone
    from django.utils.translation import gettext as _

    from .schedule import Recurrence, describe_moment

    communications = list(communications)
    group_names: dict[int, list[str]] = {}
    chosen = (
        Communication.groups.through.objects.filter(
            communication_id__in=[c.pk for c in communications]
        )
        .order_by("group__name")
        .values_list("communication_id", "group__name")
    )
    for communication_id, name in chosen:
        group_names.setdefault(communication_id, []).append(name)
    last_ids = [pk for c in communications if (pk := getattr(c, "last_send_id", None))]
    counts = send_counts(Send(pk=pk) for pk in last_ids) if last_ids else {}
    with_groups = set(
        Group.objects.filter(sphere_id__in={c.sphere_id for c in communications})
        .values_list("sphere_id", flat=True)
        .distinct()
    )
    now = timezone.now()
    rows = []
    for c in communications:
        tz = c.sphere.timezone
        names = group_names.get(c.pk, [])
        if c.kind == Communication.Kind.EVALUATION and c.evaluation:
            prefix = f"{c.evaluation.name} — "
        else:
            prefix = ""
        if names:
            audience = prefix + ", ".join(names)
        elif c.sphere_id in with_groups:
            # Made before the sphere had groups: every group (SPEC §6); the form asks
            # for a choice at the next edit.
            audience = prefix + _("Tous les groupes")
        else:
            audience = prefix + _("Tous les utilisateurs")
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


# How far ahead the closed days are read for a schedule: enough for the upcoming sends
# of a monthly reminder that skips a few months.
CLOSURES_AHEAD = dt.timedelta(days=550)


def closed_days(*, sphere: Sphere, first: dt.date, last: dt.date) -> dict[dt.date, str]:
    """The sphere's closed days between ``first`` and ``last``, each with its reason in
    the active language (« vacances de Noël, zone C »)."""
    from spheres.calendar import closures

    return {
        day: closure.describe()
        for day, closure in closures(sphere, first, last).items()
    }


def communication_recurrence(
    communication: Communication, *, since: dt.datetime
) -> Recurrence:
    """The communication's schedule with its sphere's closed days read once, from far
    enough before ``since`` (a send moved from an earlier day) to ``CLOSURES_AHEAD``
    after it; without a holiday policy, nothing is read."""
    from spheres.calendar import MOVE_HORIZON_DAYS

    from .schedule import Recurrence

    if not communication.holiday_policy or communication.frequency == "once":
        return Recurrence.of(communication)
    day = since.astimezone(communication.sphere.tzinfo).date()
    closed = closed_days(
        sphere=communication.sphere,
        first=day - dt.timedelta(days=MOVE_HORIZON_DAYS),
        last=day + CLOSURES_AHEAD,
    )
    return Recurrence.of(communication, closed=closed)


@dataclass(frozen=True)
class UpcomingSend:
    """A line of « Prochains envois »: when, and what the school calendar made of that
    occurrence (``note``: « sauté : … », « reporté au … : … »; empty for a send)."""

    when: str
    note: str = ""
    first: bool = False  # « Prochain envoi »


def communication_upcoming(
    communication: Communication, *, count: int = 5
) -> list[UpcomingSend]:
    """The next ``count`` sends of an active communication, in words, the first never
    in the past; in their order, the occurrences the school calendar skips or moves
    until the last of them, with the reason (at most ``count`` of those)."""
    from django.utils import timezone

    from .schedule import describe_moment, describe_occurrence

    next_send_at = communication.next_send_at
    if not (communication.is_active and next_send_at):
        return []
    now = timezone.now()
    tz = communication.sphere.timezone
    with_year = partial(describe_moment, with_year=True)
    recurrence = communication_recurrence(communication, since=now)
    sends = [
        next_send_at,
        *islice(recurrence.occurrences(after=next_send_at), count - 1),
    ]
    lines = [
        (
            next_send_at,
            UpcomingSend(_next_send(communication, tz, now, with_year), first=True),
        )
    ]
    lines += [(moment, UpcomingSend(with_year(moment, tz))) for moment in sends[1:]]
    notes = 0
    ended = len(sends) < count  # the schedule's last sends: notes up to its end
    for occurrence in recurrence.plan():
        if (occurrence.planned > sends[-1] and not ended) or notes >= count:
            break
        note = describe_occurrence(occurrence, tz)
        if note and occurrence.planned > now:
            lines.append(
                (
                    occurrence.planned,
                    UpcomingSend(with_year(occurrence.planned, tz), note),
                )
            )
            notes += 1
    lines.sort(key=lambda line: line[0])
    return [line for _moment, line in lines]


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


@dataclass(frozen=True)
class Verdict:
    """One line of « Pourquoi ? »: a rule, whether the learner passes it, in words."""

    ok: bool
    text: str


@dataclass(frozen=True)
class Explanation:
    learner: Learner
    receives: bool
    verdicts: list[Verdict]


def audience_explain(
    spec: AudienceSpec,
    learner: Learner,
    *,
    communication: Communication | None = None,
    today: dt.date | None = None,
) -> Explanation:
    """« Pourquoi ? »: why ``learner`` would or would not receive a send of ``spec``
    today, rule by rule, with the learner's own figures.

    The rules are ``audience_rules`` (each evaluated on its own for this learner), then
    what the send checks of the address and the learner (``learner_skip_reason``), then,
    for a reminder of a sphere that caps them, the other reminder that already reached
    the learner today (``reminded_today_by``), then, for a saved announcement, whether
    it was already received: « reçoit » exactly for the learners a send would deliver
    to.
    """
    from django.utils.translation import gettext as _
    from django.utils.translation import ngettext

    from spheres.dates import long_date

    today = today or sphere_today(sphere=spec.sphere)
    rules = audience_rules(spec, today=today)
    one = Learner.objects.filter(pk=learner.pk)
    passed = one.aggregate(
        **{
            rule.key: Count("pk", filter=rule.condition(Q(pk=learner.pk)))
            for rule in rules
        }
    )
    verdicts: list[Verdict] = []
    groups = list(learner.groups.order_by("name").values_list("name", flat=True))
    chosen = list(
        Group.objects.filter(pk__in=spec.group_ids)
        .order_by("name")
        .values_list("name", flat=True)
    )
    sphere_has_groups = Group.objects.filter(sphere_id=spec.sphere.pk).exists()
    named = ", ".join(f"« {name} »" for name in groups)
    for rule in rules:
        ok = bool(passed[rule.key])
        if rule.key == "groups":
            if not sphere_has_groups:
                text = _(
                    "La sphère n'a aucun groupe : tous ses utilisateurs sont visés."
                )
            elif not groups:
                text = _(
                    "Sans groupe : un utilisateur sans groupe n'est jamais inclus."
                )
            elif ok and chosen:
                text = _("Dans un groupe choisi (%(groups)s).") % {"groups": named}
            elif ok:
                text = _(
                    "Aucun groupe n'est choisi : tous les groupes sont visés (%(groups)s)."
                ) % {"groups": named}
            else:
                text = _(
                    "Groupes %(groups)s : aucun n'est parmi les groupes choisis "
                    "(%(chosen)s)."
                ) % {"groups": named, "chosen": ", ".join(f"« {n} »" for n in chosen)}
        elif rule.key == "window":
            window = learner_window(spec, learner_id=learner.pk)
            text = (
                _("Créneau d'évaluation : le %(date)s.")
                % {"date": long_date(window[0].astimezone(spec.sphere.tzinfo).date())}
                if window
                else _("Aucun créneau à venir dans les groupes choisis.")
            )
        elif rule.key == "max_minutes":
            days = spec.minutes_days or 0
            minutes = DailyActivity.objects.filter(
                learner=learner, date__gte=today - dt.timedelta(days=days - 1)
            ).aggregate(total=Coalesce(Sum("minutes"), 0))["total"]
            text = ngettext(
                "%(minutes)s min sur le dernier jour : %(verdict)s %(max)s.",
                "%(minutes)s min sur les %(days)s derniers jours : %(verdict)s %(max)s.",
                days,
            ) % {
                "minutes": minutes,
                "days": days,
                "max": spec.max_minutes,
                "verdict": _("moins de") if ok else _("pas moins de"),
            }
        elif rule.key == "max_level":
            text = _("Niveau %(level)s %% : %(verdict)s %(max)s %%.") % {
                "level": learner.level,
                "max": spec.max_level,
                "verdict": _("inférieur à") if ok else _("pas inférieur à"),
            }
        elif rule.key == "min_level":
            text = _("Niveau %(level)s %% : %(verdict)s %(min)s %%.") % {
                "level": learner.level,
                "min": spec.min_level,
                "verdict": _("au moins") if ok else _("moins de"),
            }
        else:
            last = (
                DailyActivity.objects.filter(learner=learner, minutes__gt=0)
                .order_by("-date")
                .values_list("date", flat=True)
                .first()
            )
            since = (
                _("dernière activité le %(date)s") % {"date": long_date(last)}
                if last
                else _("aucune activité enregistrée")
            )
            if rule.key == "never_started":
                text = (
                    _("N'a jamais commencé.")
                    if ok
                    else _("A déjà commencé (%(since)s).") % {"since": since}
                )
            else:
                text = ngettext(
                    "Inactif depuis au moins %(days)s jour : %(verdict)s (%(since)s).",
                    "Inactif depuis au moins %(days)s jours : %(verdict)s (%(since)s).",
                    spec.inactive_days or 0,
                ) % {
                    "days": spec.inactive_days,
                    "verdict": _("oui") if ok else _("non"),
                    "since": since,
                }
        verdicts.append(Verdict(ok, text))

    reason = learner_skip_reason(learner, sphere=spec.sphere, kind=spec.kind)
    address_texts: dict[str, str] = {
        Delivery.Reason.INACTIVE: _("Utilisateur désactivé : il ne reçoit rien."),
        Delivery.Reason.UNSUBSCRIBED: _(
            "Désinscrit des relances le %(date)s, à sa demande : il reçoit encore "
            "les annonces et les avis d'évaluation."
        ),
        Delivery.Reason.NO_EMAIL: _("Aucune adresse électronique."),
        Delivery.Reason.INVALID_EMAIL: _(
            "L'adresse %(email)s ne peut pas être utilisée par la plateforme."
        ),
        Delivery.Reason.UNDELIVERABLE: _(
            "L'adresse %(email)s est en échec permanent : le serveur de messagerie l'a "
            "refusée. Levez le marquage dans « Utilisateurs » si elle fonctionne de "
            "nouveau."
        ),
    }
    verdicts.append(
        Verdict(
            not reason,
            (address_texts[reason] if reason else _("Adresse : %(email)s."))
            % {"email": learner.email, "date": _unsubscribed_on(learner, spec.sphere)},
        )
    )
    if spec.kind == Communication.Kind.REMINDER:
        # The cap, checked last as the dispatcher does: shown only when it applies.
        other = reminded_today_by(
            learner,
            sphere=spec.sphere,
            day=today,
            excluding_communication_id=communication.pk if communication else None,
        )
        if other is not None:
            verdicts.append(
                Verdict(
                    False,
                    _(
                        "Déjà relancé aujourd'hui par la relance « %(name)s » : la "
                        "sphère envoie au plus une relance par utilisateur et par jour."
                    )
                    % {"name": other.name},
                )
            )
    if (
        communication is not None
        and communication.pk is not None
        and spec.kind == Communication.Kind.ANNOUNCEMENT
    ):
        received = (
            Learner.objects.filter(pk=learner.pk)
            .filter(
                announcement_received(
                    communication_id=communication.pk, learner=OuterRef("pk")
                )
            )
            .exists()
        )
        verdicts.append(
            Verdict(
                not received,
                _("A déjà reçu cette annonce : elle ne parvient qu'une fois.")
                if received
                else _("N'a pas encore reçu cette annonce."),
            )
        )
    return Explanation(
        learner=learner,
        receives=all(v.ok for v in verdicts),
        verdicts=verdicts,
    )


# The statuses of a delivery that count as « already received » for an announcement:
# sent, or on its way.
RECEIVED_STATUSES = (
    Delivery.Status.PENDING,
    Delivery.Status.SENDING,
    Delivery.Status.SENT,
)


def announcement_received(
    *, communication_id: int, learner: Any, excluding_send_id: int | None = None
) -> Q:
    """The condition « this learner already received this announcement », on a learner
    row (``learner`` is a learner, an id or ``OuterRef("pk")``): a delivery of any
    send of it that was sent or is on its way, or, once the nightly purge took the old
    delivery rows, the receipt kept in their place (``AnnouncementReceipt``).

    The dispatcher, « Pourquoi ? » and the purge read this one rule.
    """
    deliveries = Delivery.objects.filter(
        learner=learner,
        send__communication_id=communication_id,
        status__in=RECEIVED_STATUSES,
    )
    if excluding_send_id is not None:
        deliveries = deliveries.exclude(send_id=excluding_send_id)
    receipts = AnnouncementReceipt.objects.filter(
        learner=learner, communication_id=communication_id
    )
    return Q(Exists(deliveries)) | Q(Exists(receipts))


def reminder_sends_of_day(
    *, sphere: Sphere, day: dt.date, excluding_communication_id: int | None = None
) -> QuerySet[Send]:
    """The scheduled sends of the sphere's reminders on ``day``, the sphere's own
    calendar day (midnight to midnight in its time zone), but those of
    ``excluding_communication_id``: the sends the reminder cap looks at (SPEC §6, « au
    plus une relance par utilisateur et par jour »).

    Only ``Send.Purpose.SCHEDULED`` sends: the engine's other messages on a reminder's
    behalf (its weekly digest…) are not reminders to learners. The unique (communication,
    purpose, scheduled_for) index serves the lookup of each reminder."""
    tz = sphere.tzinfo
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    sends = Send.objects.filter(
        communication__sphere_id=sphere.pk,
        communication__kind=Communication.Kind.REMINDER,
        purpose=Send.Purpose.SCHEDULED,
        scheduled_for__gte=start,
        scheduled_for__lt=end,
    )
    if excluding_communication_id is not None:
        sends = sends.exclude(communication_id=excluding_communication_id)
    return sends.order_by("pk")


def already_reminded(send_ids: list[int]) -> Q:
    """Whether the outer learner has a message of one of ``send_ids`` sent or on its
    way (``RECEIVED_STATUSES``): a learner skipped, failed or cancelled there was not
    reminded.

    An IN over the deliveries of those sends, which PostgreSQL reads once into a hash
    through the (send, status) index, as ``undeliverable_address`` does: not an EXISTS
    run once per learner."""
    return Q(
        In(
            F("pk"),
            Delivery.objects.filter(
                send_id__in=send_ids,
                status__in=RECEIVED_STATUSES,
                learner_id__isnull=False,
            )
            .order_by()
            .values("learner_id"),
        )
    )


def reminded_today_by(
    learner: Learner,
    *,
    sphere: Sphere,
    day: dt.date,
    excluding_communication_id: int | None = None,
) -> Communication | None:
    """The sphere's other reminder that already reminded ``learner`` on ``day`` (the
    first dispatched), when the sphere caps reminders; else ``None``."""
    if not sphere.one_reminder_per_day:
        return None
    first = (
        Delivery.objects.filter(
            learner_id=learner.pk,
            status__in=RECEIVED_STATUSES,
            send__in=reminder_sends_of_day(
                sphere=sphere,
                day=day,
                excluding_communication_id=excluding_communication_id,
            ),
        )
        .select_related("send__communication")
        .order_by("send_id")
        .first()
    )
    return first.send.communication if first is not None else None


def reminded_by_names(send: Send, learner_ids: Iterable[int]) -> dict[int, str]:
    """For the learners ``send`` left out as already reminded: the name of the other
    reminder that reached each of them that day (the first dispatched), in one query.
    A learner whose message of that reminder failed since is not in it."""
    ids = [pk for pk in learner_ids if pk is not None]
    if not ids:
        return {}
    communication = send.communication
    rows = (
        Delivery.objects.filter(
            learner_id__in=ids,
            status__in=RECEIVED_STATUSES,
            send__in=reminder_sends_of_day(
                sphere=communication.sphere,
                day=send.scheduled_for.astimezone(communication.sphere.tzinfo).date(),
                excluding_communication_id=communication.pk,
            ),
        )
        .order_by("-send_id")
        .values_list("learner_id", "send__communication__name")
    )
    # The last written wins the dict: ordered by send descending, that is the first.
    return dict(rows)


def _unsubscribed_on(learner: Learner, sphere: Sphere) -> str:
    from spheres.dates import long_date

    at = learner.unsubscribed_from_reminders_at
    return long_date(at.astimezone(sphere.tzinfo).date()) if at else ""


def learner_skip_reason(learner: Learner, *, sphere: Sphere, kind: str) -> str:
    """Why a send of ``kind`` would leave this learner out whatever the audience (""
    if it would not): the same checks, in the same order, as the dispatcher's."""
    from spheres.addresses import AddressRefused, address_normalize

    if not learner.is_active:
        return Delivery.Reason.INACTIVE
    if (
        kind == Communication.Kind.REMINDER
        and learner.unsubscribed_from_reminders_at is not None
    ):
        return Delivery.Reason.UNSUBSCRIBED
    if not learner.email:
        return Delivery.Reason.NO_EMAIL
    try:
        address = address_normalize(learner.email)
    except AddressRefused:
        return Delivery.Reason.INVALID_EMAIL
    if UndeliverableAddress.objects.filter(
        sphere_id=sphere.pk, email=address.lower()
    ).exists():
        return Delivery.Reason.UNDELIVERABLE
    return ""
