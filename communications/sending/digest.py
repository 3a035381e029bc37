"""The weekly digest: every Monday at 8 h 00 in its sphere's time zone, each active
reminder whose administrator asked for it (``weekly_digest``) tells its reply-to
address how many learners it reminded in the week before and how many of them trained
again since.

It goes through the engine like any send: one ``Send`` (purpose ``DIGEST``, scheduled
for that Monday 8 h 00), one ``Delivery`` row to the reply-to address (no learner), the
same chunk task, claim, retries and outcome records (``delivery``). It is a service
message to the administrator: no unsubscribe link; the option is unticked in the form.

Exactly once per week: a second pass finds this week's digest written and passes the
reminder by; a second dispatcher racing the first passes the reminder by while its row
is locked (skip locked: the next pass takes it if the first one failed), or meets the
unique constraint on (communication, purpose, scheduled time) and adds nothing.

Fixed at dispatch: the figures and the text are computed by the dispatcher and copied
onto the send (subject, message), as any send's content is: a retry, a redelivered task
or « Renvoyer » sends the figures the first attempt sent, whatever activity came in
since, and the send's page shows what was sent.

Cheap: beat runs the dispatcher every minute, but Monday 8 h 00 to the end of the
catch-up (``CATCH_UP``) falls, in every time zone on Earth, between Sunday 18 h 00 and
Tuesday 20 h 00 UTC: outside that span a pass makes no query; inside it, one query
reads the reminders with the option (active, or completed within the week) that have
no digest from the last six days
(a week is 167 to 169 hours across a change of time: six days tell this week's digest
from last week's).

When: due from Monday 8 h 00 until ``CATCH_UP`` later (a dispatcher down for a few
hours still sends it, late; an option ticked on a Wednesday waits for the next Monday
rather than sending a digest at once), never for a week before the reminder existed
(created after that Monday 8 h 00), never for a deactivated reminder. A reminder that
completed (its last send is past) still gets the digest of the week of its last send,
not later ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
)
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from spheres.addresses import AddressRefused, address_normalize
from spheres.dates import moment as describe_moment
from spheres.models import DailyActivity, UndeliverableAddress

from .. import rendering
from ..models import Communication, Delivery, Send
from . import queue
from .result import DispatchResult

DIGEST_TIME = dt.time(8, 0)  # on Mondays, in the sphere's time zone
CATCH_UP = dt.timedelta(days=1)
# The kind of the prepared message (not a communication's kind: no placeholder).
DIGEST_KIND = "digest"
# Within the UTC week (from Monday 0 h 00 UTC), when it can be Monday 8 h 00 (up to
# CATCH_UP later) somewhere: from UTC+14 (Sunday 18 h 00 UTC) to UTC−12.
_SOMEWHERE_FROM = dt.timedelta(hours=8 - 14)
_SOMEWHERE_UNTIL = dt.timedelta(hours=8 + 12) + CATCH_UP

FOOTER = gettext_lazy(
    "Ce bilan vous est envoyé chaque lundi parce que l'option « M'envoyer chaque "
    "lundi un bilan de cette relance » est cochée. Pour ne plus le recevoir, "
    "modifiez la relance et décochez-la."
)


@dataclass(frozen=True)
class DigestFigures:
    reminded: int  # learners reminded in the week (messages sent)
    trained: int  # of them, those who trained on or after the day of their reminder
    week_start: dt.datetime  # the previous Monday 8 h 00
    week_end: dt.datetime  # this Monday 8 h 00 (the digest's time)


def digest_moment(now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The last Monday 8 h 00 in ``tz`` at or before ``now``, in UTC."""
    local = now.astimezone(tz)
    monday = local.date() - dt.timedelta(days=local.weekday())
    moment = dt.datetime.combine(monday, DIGEST_TIME, tzinfo=tz)
    if moment > now:
        moment = dt.datetime.combine(
            monday - dt.timedelta(days=7), DIGEST_TIME, tzinfo=tz
        )
    return moment.astimezone(dt.UTC)


def digest_next(communication: Communication, now: dt.datetime) -> dt.datetime | None:
    """When the reminder's next digest is due (the next Monday 8 h 00 after ``now``,
    local), or ``None`` when it will get none."""
    if not (
        communication.weekly_digest
        and communication.kind == Communication.Kind.REMINDER
        and communication.state == Communication.State.ACTIVE
    ):
        return None
    return digest_moment(now + dt.timedelta(days=7), communication.sphere.tzinfo)


def _due_somewhere(now: dt.datetime) -> bool:
    """Whether it is Monday 8 h 00 (to ``CATCH_UP`` later) in some time zone."""
    utc = now.astimezone(dt.UTC)
    monday = dt.datetime.combine(
        utc.date() - dt.timedelta(days=utc.weekday()), dt.time(0), tzinfo=dt.UTC
    )
    return any(
        week + _SOMEWHERE_FROM <= utc < week + _SOMEWHERE_UNTIL
        for week in (monday, monday + dt.timedelta(days=7))
    )


def digests_due(now: dt.datetime) -> list[tuple[int, dt.datetime]]:
    """(reminder id, Monday 8 h 00 in UTC) of each digest due at ``now``."""
    if not _due_somewhere(now):
        return []
    recent = Send.objects.filter(
        communication=OuterRef("pk"),
        purpose=Send.Purpose.DIGEST,
        scheduled_for__gt=now - dt.timedelta(days=6),
    )
    candidates = (
        Communication.objects.filter(
            Q(state=Communication.State.ACTIVE)
            # Completed: only if it sent within the last week (checked exactly below).
            | Q(
                state=Communication.State.COMPLETED,
                last_sent_at__gt=now - dt.timedelta(days=8),
            ),
            kind=Communication.Kind.REMINDER,
            weekly_digest=True,
            created_at__lt=now,
        )
        .filter(~Exists(recent))
        .values_list("pk", "sphere__timezone", "created_at", "state", "last_sent_at")
        .order_by("pk")
    )
    due = []
    for pk, timezone, created_at, state, last_sent_at in candidates:
        tz = ZoneInfo(timezone)
        moment = digest_moment(now, tz)
        if not (moment <= now < moment + CATCH_UP and created_at < moment):
            continue
        if state == Communication.State.COMPLETED and (
            last_sent_at is None or last_sent_at < _week_start(moment, tz)
        ):
            continue
        due.append((pk, moment))
    return due


def _week_start(moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The Monday 8 h 00 (local) a week before ``moment``: the start of its week."""
    return dt.datetime.combine(
        moment.astimezone(tz).date() - dt.timedelta(days=7), DIGEST_TIME, tzinfo=tz
    )


def digests_dispatch_due(
    *, now: dt.datetime, dry_run: bool = False
) -> list[DispatchResult]:
    """Write and enqueue every digest due at ``now``. Safe to run twice, and twice at
    once: see ``digest_dispatch``."""
    results = []
    for pk, moment in digests_due(now):
        result = digest_dispatch(
            communication_id=pk, moment=moment, now=now, dry_run=dry_run
        )
        if result is not None:
            results.append(result)
    return results


def digest_dispatch(
    *,
    communication_id: int,
    moment: dt.datetime,
    now: dt.datetime,
    dry_run: bool = False,
) -> DispatchResult | None:
    """Write one reminder's digest for the week ending at ``moment`` and enqueue it
    after commit; ``None`` when there is nothing to do: another dispatcher holds the
    reminder or already wrote this digest, or the reminder no longer asks for one.

    Safe to run twice and twice at once: the reminder's row is locked (skip locked)
    and the send is unique per (communication, purpose, scheduled time).
    """
    with transaction.atomic():
        result = _dispatch_locked(communication_id, moment, now)
        if dry_run:
            transaction.set_rollback(True)
        elif result is not None and result.chunks:
            send_id, chunks = result.send_id, list(result.chunks)
            assert send_id is not None  # noqa: S101 - chunks come with a send
            transaction.on_commit(lambda: queue.enqueue_chunks(send_id, chunks))
    return result


def _dispatch_locked(
    communication_id: int, moment: dt.datetime, now: dt.datetime
) -> DispatchResult | None:
    rows = Communication.objects.select_related("sphere")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    communication = rows.filter(
        pk=communication_id,
        state__in=(Communication.State.ACTIVE, Communication.State.COMPLETED),
        kind=Communication.Kind.REMINDER,
        weekly_digest=True,
    ).first()
    if communication is None:
        return None
    subject, message = digest_texts(
        communication, digest_figures(communication, moment)
    )
    try:
        with transaction.atomic():
            send = Send.objects.create(
                communication=communication,
                purpose=Send.Purpose.DIGEST,
                scheduled_for=moment,
                subject=subject,
                message=message,
                reply_to=communication.reply_to,
            )
    except IntegrityError:
        return None  # this week's digest was already written
    result = DispatchResult(
        communication.pk, communication.name, moment, send.pk, note="weekly digest"
    )
    delivery = _write_delivery(send, communication, now)
    if delivery.status == Delivery.Status.PENDING:
        result.recipients = 1
        result.chunks = [(delivery.pk, delivery.pk)]
    else:
        result.skipped = {delivery.reason: 1}
        Send.objects.filter(pk=send.pk).update(status=Send.Status.DONE, finished_at=now)
    return result


def _write_delivery(
    send: Send, communication: Communication, now: dt.datetime
) -> Delivery:
    """The digest's one row, to the reply-to address as the address policy writes it,
    or skipped with the reason a learner's address would be."""
    address, status, reason = communication.reply_to, Delivery.Status.PENDING, ""
    try:
        address = address_normalize(address)
    except AddressRefused:
        status, reason = Delivery.Status.SKIPPED, Delivery.Reason.INVALID_EMAIL
    else:
        if UndeliverableAddress.objects.filter(
            sphere_id=communication.sphere_id, email=address.lower()
        ).exists():
            status, reason = Delivery.Status.SKIPPED, Delivery.Reason.UNDELIVERABLE
    return Delivery.objects.create(
        send=send,
        learner=None,
        email=address,
        identifiant="",
        status=status,
        reason=reason,
        queued_at=now,
    )


def digest_figures(communication: Communication, moment: dt.datetime) -> DigestFigures:
    """The week before ``moment`` (the previous Monday 8 h 00 to this one, local):
    the learners its scheduled sends reminded (a message sent), and how many of them
    have a day with training (minutes > 0) from the day of a reminder (local) to the
    day before the digest. Learners counted once however many reminders they got; one
    query."""
    tz = communication.sphere.tzinfo
    start = _week_start(moment, tz)
    last_day = moment.astimezone(tz).date() - dt.timedelta(days=1)
    trained = Exists(
        DailyActivity.objects.filter(
            learner_id=OuterRef("learner_id"),
            minutes__gt=0,
            # The day of the reminder, in the sphere's time zone.
            date__gte=TruncDate(
                ExpressionWrapper(OuterRef("sent_at"), output_field=DateTimeField()),
                tzinfo=tz,
            ),
            date__lte=last_day,
        )
    )
    counts = Delivery.objects.filter(
        send__communication=communication,
        send__purpose=Send.Purpose.SCHEDULED,
        send__scheduled_for__gte=start,
        send__scheduled_for__lt=moment,
        status=Delivery.Status.SENT,
        learner__isnull=False,
    ).aggregate(
        reminded=Count("learner_id", distinct=True),
        trained=Count("learner_id", distinct=True, filter=Q(trained)),
    )
    return DigestFigures(
        reminded=counts["reminded"],
        trained=counts["trained"],
        week_start=start.astimezone(dt.UTC),
        week_end=moment,
    )


def digest_summary(figures: DigestFigures) -> str:
    """« 12 utilisateurs relancés cette semaine ; 5 ont repris l'entraînement »."""
    reminded = ngettext(
        "%(count)s utilisateur relancé cette semaine",
        "%(count)s utilisateurs relancés cette semaine",
        figures.reminded,
    ) % {"count": figures.reminded}
    trained = ngettext(
        "%(count)s a repris l'entraînement",
        "%(count)s ont repris l'entraînement",
        figures.trained,
    ) % {"count": figures.trained}
    return _("%(reminded)s ; %(trained)s") % {
        "reminded": reminded,
        "trained": trained,
    }


def digest_texts(
    communication: Communication, figures: DigestFigures
) -> tuple[str, str]:
    """The digest's subject and message, in the site's language (as the texts the
    engine adds to the learners' messages are)."""
    sphere = communication.sphere
    tz = sphere.tzinfo
    link = settings.SITE_URL + reverse(
        "communications:effectiveness",
        kwargs={"slug": sphere.slug, "pk": communication.pk},
    )
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Bilan hebdomadaire : %(name)s") % {"name": communication.name}
        paragraphs = [
            _("Bilan de la relance « %(name)s », %(sphere)s.")
            % {"name": communication.name, "sphere": sphere.name},
            _("Semaine du %(start)s au %(end)s.")
            % {
                "start": describe_moment(figures.week_start, tz),
                "end": describe_moment(figures.week_end, tz),
            },
            digest_summary(figures) + ".",
            _(
                "« Ont repris l'entraînement » : les utilisateurs relancés qui se "
                "sont entraînés au moins une minute entre le jour de leur relance et "
                "dimanche."
            ),
            _("Voir la relance : %(link)s") % {"link": link},
        ]
    return rendering.one_line(subject), "\n\n".join(paragraphs)


def digest_prepare(send: Send) -> rendering.PreparedMessage:
    """A digest send's message, from the copy the dispatcher made
    (``send.communication.sphere`` should be selected with it)."""
    with translation.override(settings.LANGUAGE_CODE):
        footer = [str(FOOTER)]
    return rendering.prepare_notice(
        kind=DIGEST_KIND,
        subject=send.subject,
        message=send.message,
        footer=footer,
        reply_to=send.reply_to,
        sphere=send.communication.sphere,
    )
