"""« Changement d'horaire »: telling the learners whose evaluation window moved after
they received its announcement, through the same engine.

Who is concerned (``schedule_change_concerned``), for one evaluation announcement: the
learners who received it (a SENT delivery of one of its scheduled sends), whose window
as they were last told it (the window written on their latest delivery: a SENT one of
a scheduled send, or one of an earlier notice, sent or on its way) is not the window
they get now (the send's rule, ``selectors.evaluation_windows_of_learner``: not over
yet), and who are still active with an address the platform can send to. A learner
with no window any more is not concerned: there is nothing new to tell them.

Nothing leaves without the administrator's confirmation: saving an evaluation only
offers the notice. ``schedule_change_send`` writes one send (purpose
``SCHEDULE_CHANGE``, at the time of the confirmation) with its content copied onto it,
and one delivery per concerned learner carrying the new window; after commit the same
chunk tasks deliver them, with the same claims, retries and outcomes.

Safe to confirm twice (a double click, two tabs): the communication row is locked, and
a learner whose notice is written is no longer concerned, since the window of their
latest delivery is the new one; the send is also unique per (communication, purpose,
time).

The calendar invitation of a notice has the UID of the learner's event for the
evaluation (``invitation.invitation_uid``) and a higher SEQUENCE than any earlier
message about it (RFC 5546: an update), so a calendar moves the event rather than
adding a second one; later announcements of the evaluation keep that SEQUENCE
(``invitation_sequence``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from spheres.addresses import AddressRefused, address_normalize
from spheres.models import Learner
from voltaire_comms.db import jit_off

from .. import rendering, selectors
from ..models import Communication, CommunicationEvent, Delivery, Send
from . import queue

# The statuses of a notice's delivery that count as « told »: sent, or on its way.
_TOLD_BY_NOTICE = (
    Delivery.Status.PENDING,
    Delivery.Status.SENDING,
    Delivery.Status.SENT,
)

DEFAULT_SUBJECT = _("Changement d'horaire : %(evaluation)s")
DEFAULT_MESSAGE = _(
    "Bonjour {prenom} {nom},\n\n"
    "L'horaire de votre évaluation « %(evaluation)s » a changé. "
    "Votre nouveau créneau :\n"
    "- début : {date_debut_evaluation} à {heure_debut_evaluation} ;\n"
    "- fin : {date_fin_evaluation} à {heure_fin_evaluation}.\n\n"
    "L'invitation jointe met à jour l'événement de votre agenda.\n\n"
    "Le moment venu, connectez-vous à l'adresse suivante :\n"
    "{lien_connexion}\n"
    "Votre identifiant : {identifiant}\n\n"
    "Bonne évaluation !\n\n"
    "L'équipe pédagogique\n{nom_sphere}"
)


class Window(NamedTuple):
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True)
class Concerned:
    """A learner to tell, with the window they were told and the one they get now."""

    learner_id: int
    identifiant: str
    first_name: str
    last_name: str
    email: str  # normalised by the address policy
    told: Window  # as their latest message gave it
    window: Window  # as they get it now

    def __str__(self) -> str:  # as a learner is named (``Learner.__str__``)
        full = f"{self.first_name} {self.last_name}".strip()
        return f"{full} ({self.identifiant})" if full else self.identifiant


def _told(communication: Communication) -> QuerySet[Delivery, Any]:
    """The deliveries of ``communication`` that told the outer learner a window, the
    latest first."""
    return (
        Delivery.objects.filter(
            Q(send__purpose=Send.Purpose.SCHEDULED, status=Delivery.Status.SENT)
            | Q(
                send__purpose=Send.Purpose.SCHEDULE_CHANGE,
                status__in=_TOLD_BY_NOTICE,
            ),
            learner=OuterRef("pk"),
            send__communication_id=communication.pk,
            window_starts_at__isnull=False,
            window_ends_at__isnull=False,
        )
        .order_by("-pk")
        .values("window_starts_at", "window_ends_at")
    )


def schedule_change_concerned(
    communication: Communication, *, now: dt.datetime | None = None
) -> list[Concerned]:
    """The learners a « changement d'horaire » of ``communication`` would reach now
    (see the module's docstring), by name; none for a communication that is not an
    evaluation announcement or is deactivated. Two queries (the groups, the
    learners, the latter with JIT compilation off)."""
    if (
        communication.kind != Communication.Kind.EVALUATION
        or communication.is_deactivated
        or communication.evaluation_id is None
    ):
        return []
    now = now or timezone.now()
    spec = selectors.AudienceSpec.of(communication)
    told = _told(communication)
    windows = selectors.evaluation_windows_of_learner(spec, now=now).values(
        "starts_at", "ends_at"
    )
    # Only the learners this communication wrote to are looked at (a hash of ids),
    # not every learner of the sphere with four subqueries each.
    written_to = Delivery.objects.filter(
        send__communication_id=communication.pk, status=Delivery.Status.SENT
    ).values("learner_id")
    rows = (
        Learner.objects.filter(
            sphere_id=communication.sphere_id, is_active=True, pk__in=written_to
        )
        .exclude(email="")
        .exclude(selectors.undeliverable_address(communication.sphere))
        .annotate(
            told_starts=Subquery(told.values("window_starts_at")[:1]),
            told_ends=Subquery(told.values("window_ends_at")[:1]),
            now_starts=Subquery(windows.values("starts_at")[:1]),
            now_ends=Subquery(windows.values("ends_at")[:1]),
        )
        .filter(told_starts__isnull=False, now_starts__isnull=False)
        .filter(~Q(told_starts=F("now_starts")) | ~Q(told_ends=F("now_ends")))
        .order_by("last_name", "first_name", "pk")
        .values_list(
            "pk",
            "identifiant",
            "first_name",
            "last_name",
            "email",
            "told_starts",
            "told_ends",
            "now_starts",
            "now_ends",
        )
    )
    with transaction.atomic():
        jit_off()  # four subqueries over a large sphere: estimated far above their cost
        found = list(rows)
    concerned = []
    for pk, identifiant, first, last, email, t_s, t_e, n_s, n_e in found:
        try:
            address = address_normalize(email)
        except AddressRefused:
            continue
        concerned.append(
            Concerned(
                pk,
                identifiant,
                first,
                last,
                address,
                Window(t_s, t_e),
                Window(n_s, n_e),
            )
        )
    return concerned


def schedule_change_offers(
    *, evaluation_id: int, now: dt.datetime | None = None
) -> list[tuple[Communication, int]]:
    """The announcements of an evaluation that have learners to tell, each with how
    many: what the administrator is offered after saving the evaluation."""
    communications = Communication.objects.filter(
        evaluation_id=evaluation_id, kind=Communication.Kind.EVALUATION
    ).exclude(state=Communication.State.DEACTIVATED)
    announced = Delivery.objects.filter(
        send__communication=OuterRef("pk"),
        send__purpose=Send.Purpose.SCHEDULED,
        status=Delivery.Status.SENT,
    )
    communications = communications.filter(Exists(announced))
    offers = []
    for communication in communications.select_related("sphere").order_by("name"):
        count = len(schedule_change_concerned(communication, now=now))
        if count:
            offers.append((communication, count))
    return offers


def schedule_change_content(communication: Communication) -> dict[str, str]:
    """What a notice sends, copied onto its send like a dispatch copies the
    communication's texts (``content.send_frozen_content``): a subject naming the
    evaluation and a message giving the learner's new window, in the site's language,
    with the placeholders of an evaluation announcement."""
    assert communication.evaluation is not None  # noqa: S101 - an evaluation's
    name = communication.evaluation.name
    with translation.override(settings.LANGUAGE_CODE):
        subject = str(DEFAULT_SUBJECT) % {"evaluation": name}
        message = str(DEFAULT_MESSAGE) % {"evaluation": _literal(name)}
    return {
        "subject": _literal(rendering.one_line(subject), limit=250),
        "message": message,
        "reply_to": communication.reply_to,
        "password_token": "",
    }


def _literal(text: str, *, limit: int | None = None) -> str:
    """``text`` as literal text of a message (its braces doubled: an evaluation named
    « Groupe {A} » is not a placeholder), cut to ``limit`` characters without ever
    cutting a doubled brace in two."""
    pieces, size = [], 0
    for char in text:
        piece = char * 2 if char in "{}" else char
        if limit is not None and size + len(piece) > limit:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)


def schedule_change_preview(
    communication: Communication, concerned: Concerned
) -> tuple[rendering.PreparedMessage, rendering.RenderedMessage]:
    """The notice as ``concerned`` will receive it."""
    content = schedule_change_content(communication)
    prepared = rendering.prepare(
        kind=communication.kind,
        subject=content["subject"],
        message=content["message"],
        reply_to=content["reply_to"],
        sphere=communication.sphere,
        evaluation_id=communication.evaluation_id,
    )
    return prepared, prepared.render_values(
        prepared.values(
            identifiant=concerned.identifiant,
            first_name=concerned.first_name,
            last_name=concerned.last_name,
            window=concerned.window,
        )
    )


def schedule_change_send(
    *,
    communication: Communication,
    actor: User | None,
    now: dt.datetime | None = None,
) -> Send | None:
    """Send the notice to the learners concerned now; ``None`` when nobody is (or no
    longer is: a second confirmation finds the first one's deliveries).

    One transaction: the communication row locked, the send and its deliveries written,
    the audit trail told who sent it, the chunks enqueued after commit."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            Communication.objects.select_for_update(of=("self",))
            .select_related("sphere", "evaluation")
            .filter(pk=communication.pk)
            .first()
        )
        if locked is None:
            return None
        concerned = schedule_change_concerned(locked, now=now)
        if not concerned:
            return None
        try:
            with transaction.atomic():
                send = Send.objects.create(
                    communication=locked,
                    purpose=Send.Purpose.SCHEDULE_CHANGE,
                    scheduled_for=now,
                    status=Send.Status.SENDING,
                    **schedule_change_content(locked),
                )
        except IntegrityError:
            return None  # the same notice, already written at this very time
        deliveries = Delivery.objects.bulk_create(
            Delivery(
                send=send,
                learner_id=c.learner_id,
                email=c.email,
                identifiant=c.identifiant,
                first_name=c.first_name,
                last_name=c.last_name,
                window_starts_at=c.window[0],
                window_ends_at=c.window[1],
                status=Delivery.Status.PENDING,
                queued_at=now,
            )
            for c in concerned
        )
        CommunicationEvent.objects.create(
            communication=locked,
            actor=actor,
            action=CommunicationEvent.Action.RESCHEDULED,
            details={"send": send.pk, "count": len(deliveries)},
        )
        chunks = queue.ranges([d.pk for d in deliveries])
        transaction.on_commit(lambda: queue.enqueue_chunks(send.pk, chunks))
    return send


def invitation_sequence(send: Send) -> int:
    """The SEQUENCE of the invitations of an evaluation's send: the number of notices
    about that evaluation up to this send. 0 (none written) before any notice; each
    notice one more than the last; a later announcement the same as the last notice,
    whose event it repeats or, if the windows moved again, updates (a calendar takes
    the later DTSTAMP)."""
    evaluation_id = send.communication.evaluation_id
    if evaluation_id is None:
        return 0
    return Send.objects.filter(
        communication__evaluation_id=evaluation_id,
        purpose=Send.Purpose.SCHEDULE_CHANGE,
        pk__lte=send.pk,
    ).count()
