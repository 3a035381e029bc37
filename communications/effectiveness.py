"""« Les relances ont-elles fonctionné ? »: what a reminder's learners did around each
send. Reads only, scoped to the reminder's sphere.

For each send of the reminder's own schedule (purpose « envoi programmé », done or under
way), the most recent first, at most ``SENDS_SHOWN``, with D the send's date on the
sphere's wall clock (its time zone):

- **reminded**: the learners whose message of that send was sent (delivery SENT) and who
  are still in the sphere (an erased learner has no activity left to count);
- **trained**: those with more than 0 minutes on at least one day from D to D + 6 (the
  send's own day counts as « after », whatever the hour of the send);
- **minutes before**: their minutes from D − 7 to D − 1; **minutes after**: from D to
  D + 6; the averages are over every learner of the set, a learner without activity
  counting as 0;
- **not reminded** (indicative, not a measure of cause and effect): the same figures
  for the active learners that the reminder's groups cover today (SPEC §6: the chosen
  groups, every group when none is chosen, every learner when the sphere has none)
  whom that send did not remind (left out by a criterion, skipped or failed).

One query for the figures, whatever the number of sends and of learners: one pass
over the learners covered or reminded and their activity within the days of all the
windows, grouped per learner (its minutes in each window, whether it was reminded by
each send), then counted and summed per send, so that no ``COUNT(DISTINCT …)`` is
needed.

That query reads the whole activity of the reminder's learners (a third of a second on
100,000 learners), and the page is read far more often than its data changes: once
every send shown is done, the figures are kept in Django's cache for
``CACHE_SECONDS``, under the sends, the reminder's groups, the day and the sphere's
data version (``spheres.versions``: an import, a group change or an erasure makes a
new one, so the next reading computes them again). The page says when they were
computed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    FilteredRelation,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from spheres.models import Learner
from spheres.selectors import sphere_today
from spheres.versions import sphere_data_version
from voltaire_comms.db import jit_off

from .models import Communication, Delivery, Send
from .selectors import AudienceSpec, audience_groups_condition

SENDS_SHOWN = 12
DAYS = 7  # days before a send, and days from the send on
CACHE_SECONDS = 300


@dataclass(frozen=True)
class Figures:
    """One set of learners around one send."""

    learners: int = 0
    trained: int = 0  # with activity on at least one of the DAYS days from the send on
    minutes_before: int = 0
    minutes_after: int = 0

    def __sub__(self, other: Figures) -> Figures:
        return Figures(
            learners=self.learners - other.learners,
            trained=self.trained - other.trained,
            minutes_before=self.minutes_before - other.minutes_before,
            minutes_after=self.minutes_after - other.minutes_after,
        )

    @property
    def trained_share(self) -> float | None:
        """The percentage of the set that trained after the send (None: empty set)."""
        return 100 * self.trained / self.learners if self.learners else None

    @property
    def average_before(self) -> float | None:
        return self.minutes_before / self.learners if self.learners else None

    @property
    def average_after(self) -> float | None:
        return self.minutes_after / self.learners if self.learners else None


@dataclass(frozen=True)
class SendEffect:
    send: Send
    day: dt.date  # the send's date on the sphere's wall clock
    days_observed: int  # days of the window after the send already over (up to DAYS)
    reminded: Figures
    others: Figures

    @property
    def complete(self) -> bool:
        return self.days_observed >= DAYS


@dataclass(frozen=True)
class Effectiveness:
    sends: list[SendEffect]  # the most recent first
    more: bool  # older sends exist that are not shown
    computed_at: dt.datetime | None = None  # when the figures were computed


def reminder_effectiveness(
    communication: Communication,
    *,
    today: dt.date | None = None,
    limit: int = SENDS_SHOWN,
) -> Effectiveness:
    """The figures of the module's docstring for ``communication``'s last ``limit``
    sends: three queries (the sends, the chosen groups, the figures; on PostgreSQL
    the figures in a transaction of their own, JIT off), one when there is no send
    yet, two when the figures are in the cache."""
    sphere = communication.sphere
    found = list(
        Send.objects.filter(
            communication=communication,
            purpose=Send.Purpose.SCHEDULED,
            status__in=(Send.Status.DONE, Send.Status.SENDING),
        ).order_by("-scheduled_for", "-pk")[: limit + 1]
    )
    sends, more = found[:limit], len(found) > limit
    if not sends:
        return Effectiveness(sends=[], more=False)
    today = today or sphere_today(sphere=sphere)
    days = {s.pk: s.scheduled_for.astimezone(sphere.tzinfo).date() for s in sends}
    first = min(days.values()) - dt.timedelta(days=DAYS)
    last = max(days.values()) + dt.timedelta(days=DAYS - 1)
    spec = AudienceSpec.of(communication)
    covered = Learner.objects.filter(
        audience_groups_condition(spec),
        sphere_id=sphere.pk,
        is_active=True,
    )
    # A send under way still changes who it reminded: computed each time then.
    done = all(send.status == Send.Status.DONE for send in sends)
    key = _cache_key(communication, sends, spec, today) if done else None
    cached = cache.get(key) if key else None
    if cached is not None:
        figures, computed_at = cached
    else:
        figures = _figures_by_send(days, covered, first, last)
        computed_at = timezone.now()
        if key:
            cache.set(key, (figures, computed_at), CACHE_SECONDS)
    effects = []
    for send in sends:
        day = days[send.pk]
        effects.append(
            SendEffect(
                send=send,
                day=day,
                days_observed=max(0, min(DAYS, (today - day).days + 1)),
                reminded=figures[send.pk][0],
                others=figures[send.pk][1],
            )
        )
    return Effectiveness(sends=effects, more=more, computed_at=computed_at)


def _cache_key(
    communication: Communication,
    sends: list[Send],
    spec: AudienceSpec,
    today: dt.date,
) -> str:
    """What the figures depend on: the sends shown, the groups the reminder covers (the
    learners of those groups), the day, and the sphere's data."""
    version = sphere_data_version(sphere_id=communication.sphere_id)
    what = repr(
        (
            [(send.pk, send.scheduled_for.isoformat()) for send in sends],
            sorted(spec.group_ids),
            today.isoformat(),
            version,
        )
    )
    digest = hashlib.sha256(what.encode()).hexdigest()[:32]
    return f"effectiveness:{communication.pk}:{digest}"


def _before(day: dt.date) -> tuple[dt.date, dt.date]:
    return day - dt.timedelta(days=DAYS), day - dt.timedelta(days=1)


def _after(day: dt.date) -> tuple[dt.date, dt.date]:
    return day, day + dt.timedelta(days=DAYS - 1)


def _figures_by_send(
    days: dict[int, dt.date], covered: Any, first: dt.date, last: dt.date
) -> dict[int, tuple[Figures, Figures]]:
    """Per send: the figures of the learners it reminded, and of the covered learners
    it did not remind. One query over the learners either covered or reminded by one
    of the sends: each joined to their activity within [first, last] and summed per
    learner for each send's windows, then counted and summed per send.

    Whether a learner is covered, or reminded by a send, is an IN over a list of ids
    that PostgreSQL reads once into a hash, not a subquery per learner (nor a join,
    which would multiply the activity rows)."""
    sent = Delivery.objects.filter(status=Delivery.Status.SENT).order_by()
    covered_ids = covered.order_by().values("pk")
    # Per learner: whether covered, whether reminded by each send, and their minutes
    # in each send's windows.
    per_learner: dict[str, Any] = {"covered": _LearnerFlag(Q(pk__in=covered_ids))}
    for pk, day in days.items():
        reminded_by = sent.filter(send_id=pk).values("learner_id")
        per_learner[f"r{pk}"] = _LearnerFlag(Q(pk__in=reminded_by))
        per_learner[f"b{pk}"] = Coalesce(
            Sum("recent__minutes", filter=Q(recent__date__range=_before(day))), 0
        )
        per_learner[f"a{pk}"] = Coalesce(
            Sum("recent__minutes", filter=Q(recent__date__range=_after(day))), 0
        )
    reminded_ids = sent.filter(send_id__in=list(days)).values("learner_id")
    learners = (
        Learner.objects.filter(Q(pk__in=covered_ids) | Q(pk__in=reminded_ids))
        .alias(
            recent=FilteredRelation(
                "activity", condition=Q(activity__date__range=(first, last))
            )
        )
        .annotate(**per_learner)
    )
    aggregates: dict[str, Any] = {}
    for pk in days:
        reminded = Q(**{f"r{pk}": 1})
        for prefix, who in (("r", reminded), ("o", Q(covered=1) & ~reminded)):
            aggregates[f"{prefix}{pk}_learners"] = Count("pk", filter=who)
            aggregates[f"{prefix}{pk}_trained"] = Count(
                "pk", filter=who & Q(**{f"a{pk}__gt": 0})
            )
            aggregates[f"{prefix}{pk}_before"] = Sum(f"b{pk}", filter=who)
            aggregates[f"{prefix}{pk}_after"] = Sum(f"a{pk}", filter=who)
    with transaction.atomic():
        jit_off()  # as for the live count
        row = learners.aggregate(**aggregates)
    return {pk: (_figures(row, f"r{pk}"), _figures(row, f"o{pk}")) for pk in days}


class _LearnerFlag(Case):
    """1 for a learner who meets a condition on its id alone, else 0, in a query
    grouped per learner. Computed once per learner, after the grouping: the GROUP BY
    stays the learner's id (an expression left there would make PostgreSQL sort on
    it), and the condition is not evaluated again for each row of activity."""

    def __init__(self, condition: Q) -> None:
        super().__init__(When(condition, then=Value(1)), default=Value(0))

    def get_group_by_cols(self) -> list[Any]:
        return []


def _figures(row: dict[str, Any], prefix: str) -> Figures:
    return Figures(
        learners=row[f"{prefix}_learners"],
        trained=row[f"{prefix}_trained"],
        minutes_before=row[f"{prefix}_before"] or 0,
        minutes_after=row[f"{prefix}_after"] or 0,
    )
