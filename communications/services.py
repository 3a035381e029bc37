"""Writes on communications: create, update, duplicate, deactivate (for good), test send.

Every rule that the form cannot see alone is enforced here and raised as a
``ValidationError`` keyed by form field, in French, so the view can show it next to the
field without losing what was typed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from spheres.models import Group, Learner, Sphere

from . import crypto, rendering
from .models import (
    EDITABLE_FIELDS,
    KIND_FIELDS,
    REMINDER_CRITERIA,
    Communication,
    CommunicationEvent,
    Send,
)
from .schedule import Recurrence


class CommunicationDeactivated(Exception):
    """The communication is deactivated: it can never change state or content again."""


def _validate(
    communication: Communication, *, groups: list[Group], password_set: bool
) -> None:
    errors = communication_errors(
        communication, groups=groups, password_set=password_set
    )
    if errors:
        raise ValidationError(errors)


def communication_errors(
    communication: Communication, *, groups: list[Group], password_set: bool
) -> dict[str, list[str]]:
    """Every rule a communication breaks, in French, keyed by form field.

    Works on what is there: a value still missing (a field the form refused) skips the
    rules that need it, so that the form can show all the other errors in one pass.
    """
    sphere = communication.sphere
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    kind = communication.kind
    used: set[str] = set()
    if communication.subject:
        try:
            rendering.check_subject(communication.subject)
            used |= rendering.parse(communication.subject, kind=kind).fields
        except rendering.PlaceholderError as exc:
            add("subject", str(exc))
    if communication.message:
        try:
            template = rendering.parse(communication.message, kind=kind)
            used |= template.fields
        except rendering.PlaceholderError as exc:
            add("message", str(exc))
    if (
        kind == Communication.Kind.ANNOUNCEMENT
        and not password_set
        and "mot_de_passe" in used
    ):
        add(
            "password",
            _(
                "Le message contient {mot_de_passe} : saisissez le mot de passe de première "
                "connexion (il n'est pas pré-rempli et doit être le même pour tous)."
            ),
        )

    sphere_has_groups = Group.objects.filter(sphere=sphere).exists()
    if any(group.sphere_id != sphere.pk for group in groups):
        add("groups", _("Choisissez des groupes de cette sphère."))
    if sphere_has_groups and not groups:
        add("groups", _("Choisissez au moins un groupe destinataire."))

    if kind == Communication.Kind.EVALUATION:
        evaluation = communication.evaluation
        if evaluation is None or evaluation.sphere_id != sphere.pk:
            add("evaluation", _("Choisissez une évaluation de cette sphère."))
        elif groups:
            with_window = set(evaluation.windows.values_list("group_id", flat=True))
            without = [g.name for g in groups if g.pk not in with_window]
            if without:
                add(
                    "groups",
                    ngettext(
                        "Le groupe %(names)s n'a pas de créneau pour cette évaluation : "
                        "ajoutez-lui un créneau dans l'onglet « Évaluations », ou "
                        "décochez-le.",
                        "Les groupes %(names)s n'ont pas de créneau pour cette "
                        "évaluation : ajoutez-leur un créneau dans l'onglet "
                        "« Évaluations », ou décochez-les.",
                        len(without),
                    )
                    % {"names": ", ".join(f"« {name} »" for name in without)},
                )
    if kind == Communication.Kind.REMINDER:
        if not any(
            getattr(communication, f) not in (None, False)
            for f in REMINDER_CRITERIA
            if f != "minutes_days"  # goes with max_minutes, no criterion alone
        ):
            add(
                "__all__",
                _("Définissez au moins un critère de relance (temps passé, niveau…)."),
            )
        if (communication.max_minutes is None) != (communication.minutes_days is None):
            add(
                "minutes_days",
                _("Indiquez à la fois le nombre de minutes et le nombre de jours."),
            )
        if (
            communication.max_level is not None
            and communication.min_level is not None
            and communication.min_level >= communication.max_level
        ):
            add(
                "min_level",
                _(
                    "Aucun niveau ne peut être à la fois au moins %(min)s %% et inférieur à %(max)s %%."
                )
                % {"min": communication.min_level, "max": communication.max_level},
            )

    frequency = communication.frequency
    if frequency == Communication.Frequency.WEEKLY and not communication.weekdays:
        add("weekdays", _("Choisissez au moins un jour de la semaine."))
    if frequency == Communication.Frequency.MONTHLY and not communication.month_day:
        add("month_day", _("Choisissez le jour du mois."))
    if (
        communication.end_date
        and communication.start_date
        and communication.end_date < communication.start_date
    ):
        add("end_date", _("La date de fin doit être après la date de début."))
    if (
        frequency == Communication.Frequency.DAILY
        and communication.holiday_policy == Communication.HolidayPolicy.MOVE
    ):
        add(
            "holiday_policy",
            _(
                "Un envoi de tous les jours ne peut pas être reporté : il tomberait le "
                "jour de l'envoi suivant. Choisissez « Sauter l'envoi »."
            ),
        )
    return errors


def _schedule(
    communication: Communication, *, now: dt.datetime | None = None
) -> Recurrence:
    """Set ``next_send_at``: the first send time not yet passed, never a day the school
    calendar skips, a moved send at its new time. Returns the schedule it used.

    A one-off send whose time has just passed (created today for earlier today) is due
    now and goes out at the next dispatch.
    """
    from . import selectors

    now = now or timezone.now()
    recurrence = selectors.communication_recurrence(communication, since=now)
    if communication.frequency == Communication.Frequency.ONCE:
        if communication.last_sent_at is None:
            communication.next_send_at = next(recurrence.occurrences())
        return recurrence
    after = max(now, communication.last_sent_at or now) - dt.timedelta(seconds=1)
    communication.next_send_at = recurrence.next_after(after)
    return recurrence


def _record_skips(
    communication: Communication, recurrence: Recurrence, *, now: dt.datetime
) -> None:
    """The skips still to come, for the schedule as it is now (sending/skips.py)."""
    from .sending.skips import skips_forget, skips_record

    skips_forget(communication, after=now)
    if communication.is_active and communication.frequency != "once":
        skips_record(
            communication, recurrence, after=now, before=communication.next_send_at
        )


def communications_reschedule(*, sphere: Sphere, now: dt.datetime | None = None) -> int:
    """After the sphere's school calendar changed (its zone, its subdivision, its
    imported calendar): the next send and the skips to come of each active recurring
    communication that follows the calendar, worked out again. Returns how many next
    sends changed. Safe to run twice."""
    now = now or timezone.now()
    changed = 0
    with transaction.atomic():
        rows = (
            Communication.objects.select_for_update(of=("self",))
            .select_related("sphere")
            .filter(sphere=sphere, state=Communication.State.ACTIVE)
            .exclude(holiday_policy=Communication.HolidayPolicy.IGNORE)
            .exclude(frequency=Communication.Frequency.ONCE)
        )
        for communication in rows:
            before = communication.next_send_at
            recurrence = _schedule(communication, now=now)
            if communication.next_send_at is None:
                communication.state = Communication.State.COMPLETED
            _record_skips(communication, recurrence, now=now)
            if communication.next_send_at != before:
                communication.save(
                    update_fields=["next_send_at", "state", "updated_at"]
                )
                changed += 1
    return changed


# A save whose first send would come this soon (or is already due) is confirmed first.
CONFIRMATION_WINDOW = dt.timedelta(minutes=10)


class SendNeedsConfirmation(Exception):
    """Saving would send within ``CONFIRMATION_WINDOW``: the administrator confirms
    first (« Envoyer maintenant à 245 utilisateurs ? »). Nothing was saved."""

    def __init__(self, next_send_at: dt.datetime) -> None:
        super().__init__(next_send_at)
        self.next_send_at = next_send_at


def _check_confirmed(
    communication: Communication,
    *,
    confirmed: bool,
    before: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Raise ``SendNeedsConfirmation`` if this save makes a send leave within the
    window without the administrator's confirmation (a send already planned that soon,
    and not moved by the edit, needs none)."""
    next_send_at = communication.next_send_at
    if confirmed or next_send_at is None or next_send_at == before:
        return
    if next_send_at <= (now or timezone.now()) + CONFIRMATION_WINDOW:
        raise SendNeedsConfirmation(next_send_at)


def communication_candidate(
    *,
    sphere: Sphere,
    kind: str,
    data: dict[str, Any],
    instance: Communication | None = None,
) -> Communication:
    """An unsaved communication with these values (the form being filled), for the
    preview, the test and the confirmation; ``instance``: the one being edited."""
    candidate = Communication(sphere=sphere, kind=kind)
    if instance is not None:
        for field in Communication._meta.concrete_fields:
            setattr(candidate, field.attname, getattr(instance, field.attname))
    for name in EDITABLE_FIELDS:
        if name in data:
            setattr(candidate, name, data[name])
    _clear_other_kinds(candidate)
    _schedule(candidate)
    return candidate


def _clear_other_kinds(communication: Communication) -> None:
    """Keep only the fields of the communication's type (the form may post others)."""
    all_kinds = {field for fields in KIND_FIELDS.values() for field in fields}
    for field in all_kinds - set(KIND_FIELDS[communication.kind]):
        setattr(communication, field, False if field == "never_started" else None)
    if communication.kind != Communication.Kind.REMINDER:
        communication.weekly_digest = False
    if communication.frequency != Communication.Frequency.WEEKLY:
        communication.weekdays = 0
    if communication.frequency != Communication.Frequency.MONTHLY:
        communication.month_day = None
    if communication.frequency == Communication.Frequency.ONCE:
        communication.end_date = None
        communication.holiday_policy = Communication.HolidayPolicy.IGNORE


def communication_create(
    *,
    sphere: Sphere,
    actor: User,
    kind: str,
    data: dict[str, Any],
    groups: Iterable[Group] = (),
    password: str = "",
    duplicated_from: Communication | None = None,
    confirmed: bool = False,
) -> Communication:
    """Create an active communication and schedule its first send.

    Raises ``SendNeedsConfirmation`` when that first send would leave within ten
    minutes and ``confirmed`` is not set."""
    groups = list(groups)
    communication = Communication(
        sphere=sphere, kind=kind, created_by=actor, updated_by=actor
    )
    for field in EDITABLE_FIELDS:
        if field in data:
            setattr(communication, field, data[field])
    _clear_other_kinds(communication)
    _validate(communication, groups=groups, password_set=bool(password))
    if password and kind == Communication.Kind.ANNOUNCEMENT:
        communication.password_token = crypto.encrypt(password)
    communication.duplicated_from = duplicated_from
    now = timezone.now()
    recurrence = _schedule(communication, now=now)
    _check_confirmed(communication, confirmed=confirmed)
    with transaction.atomic():
        communication.save()
        communication.groups.set(groups)
        _record_skips(communication, recurrence, now=now)
        CommunicationEvent.objects.create(
            communication=communication,
            actor=actor,
            action=(
                CommunicationEvent.Action.DUPLICATED
                if duplicated_from
                else CommunicationEvent.Action.CREATED
            ),
            details={"from": duplicated_from.pk, "from_name": duplicated_from.name}
            if duplicated_from
            else {},
        )
    return communication


def communication_update(
    *,
    communication: Communication,
    actor: User,
    data: dict[str, Any],
    groups: Iterable[Group],
    password: str = "",
    confirmed: bool = False,
) -> Communication:
    """Apply changes to future sends only. A deactivated communication is read-only.

    Raises ``SendNeedsConfirmation`` when the edit brings a send within ten minutes
    and ``confirmed`` is not set."""
    groups = list(groups)
    with transaction.atomic():
        current = Communication.objects.select_for_update().get(pk=communication.pk)
        if current.state == Communication.State.DEACTIVATED:
            raise CommunicationDeactivated(
                _(
                    "Cette communication est désactivée : elle ne peut plus être modifiée."
                )
            )
        before = {f: getattr(current, f) for f in EDITABLE_FIELDS}
        next_before = current.next_send_at if current.is_active else None
        before_groups = set(current.groups.values_list("pk", flat=True))
        for field in EDITABLE_FIELDS:
            if field in data:
                setattr(current, field, data[field])
        _clear_other_kinds(current)
        _validate(
            current, groups=groups, password_set=bool(password) or current.has_password
        )
        changed = [f for f in EDITABLE_FIELDS if getattr(current, f) != before[f]]
        if {g.pk for g in groups} != before_groups:
            changed.append("groups")
        if password and current.kind == Communication.Kind.ANNOUNCEMENT:
            current.password_token = crypto.encrypt(password)
            changed.append("password")
        if not changed:
            return current
        if (
            current.state == Communication.State.COMPLETED
            and current.frequency != "once"
        ):
            current.state = Communication.State.ACTIVE
        now = timezone.now()
        recurrence = _schedule(current, now=now)
        _check_confirmed(current, confirmed=confirmed, before=next_before)
        current.updated_by = actor
        current.save()
        current.groups.set(groups)
        _record_skips(current, recurrence, now=now)
        CommunicationEvent.objects.create(
            communication=current,
            actor=actor,
            action=CommunicationEvent.Action.MODIFIED,
            details={"fields": changed},
        )
    return current


def communication_deactivate(
    *,
    communication: Communication,
    actor: User,
    origin: CommunicationEvent.Origin | None = None,
) -> Communication:
    """Deactivate for good, at once: nothing more is sent for it (sends under way stop
    before their next message). Safe to call twice: a second call records nothing.
    ``origin``: where it was done, when not on the sphere's pages (the audit trail)."""
    with transaction.atomic():
        current = Communication.objects.select_for_update().get(pk=communication.pk)
        if current.state == Communication.State.DEACTIVATED:
            return current
        current.state = Communication.State.DEACTIVATED
        current.deactivated_at = timezone.now()
        current.deactivated_by = actor
        current.next_send_at = None
        current.save(
            update_fields=["state", "deactivated_at", "deactivated_by", "next_send_at"]
        )
        _record_skips(current, Recurrence.of(current), now=current.deactivated_at)
        CommunicationEvent.objects.create(
            communication=current,
            actor=actor,
            action=CommunicationEvent.Action.DEACTIVATED,
            details={"origin": origin.value} if origin else {},
        )
    return current


def communication_reactivate(
    *, communication: Communication, actor: User | None = None
) -> NoReturn:
    """There is no way back: a deactivated communication is duplicated, never reactivated."""
    raise CommunicationDeactivated(
        _(
            "Une communication désactivée ne peut jamais être réactivée. "
            "Dupliquez-la pour l'envoyer à nouveau."
        )
    )


def communication_password(*, communication: Communication) -> str:
    return (
        crypto.decrypt(communication.password_token)
        if communication.password_token
        else ""
    )


def prepare_message(*, communication: Communication) -> rendering.PreparedMessage:
    """The communication's texts parsed once, with its password decrypted (in memory only)."""
    return rendering.prepare(
        kind=communication.kind,
        subject=communication.subject,
        message=communication.message,
        reply_to=communication.reply_to,
        sphere=communication.sphere,
        evaluation_id=communication.evaluation_id,
        password=communication_password(communication=communication),
    )


def message_preview(
    *,
    communication: Communication,
    learner: Learner,
    group_ids: tuple[int, ...] | None = None,
    password: str | None = None,
    mask_password: bool = False,
) -> tuple[rendering.PreparedMessage, rendering.RenderedMessage | None]:
    """The message exactly as ``learner`` would receive it from ``communication``
    (saved, or a candidate with the form's values and ``group_ids``/``password``): the
    same texts and the same evaluation window rule as the send. ``None`` for an
    evaluation announcement when the learner has no window still to come. With
    ``mask_password``, a password is shown as ``rendering.PASSWORD_MASK`` (a preview on
    screen until the administrator reveals it; never a message that is sent)."""
    from . import selectors

    if password is None:
        password = communication_password(communication=communication)
    if mask_password and password:
        password = rendering.PASSWORD_MASK
    prepared = rendering.prepare(
        kind=communication.kind,
        subject=communication.subject,
        message=communication.message,
        reply_to=communication.reply_to,
        sphere=communication.sphere,
        evaluation_id=communication.evaluation_id,
        password=password,
    )
    window = None
    if communication.kind == Communication.Kind.EVALUATION:
        spec = selectors.AudienceSpec.of(communication, group_ids)
        window = selectors.learner_window(spec, learner_id=learner.pk)
        if window is None:
            return prepared, None
    return prepared, prepared.render(learner, window)


def communication_send_test(
    *,
    communication: Communication,
    actor: User,
    learner: Learner,
    group_ids: tuple[int, ...] | None = None,
    password: str | None = None,
) -> bool:
    """Send the message as ``learner`` would receive it to the administrator's own
    address, marked as a test in the subject. Not counted as a send; recorded in the
    history of a saved communication. ``False`` when there is nothing to send (an
    evaluation announcement for a learner without a window)."""
    prepared, message = message_preview(
        communication=communication,
        learner=learner,
        group_ids=group_ids,
        password=password,
    )
    if message is None:
        return False
    email = EmailMultiAlternatives(
        subject=_("[TEST] %(subject)s") % {"subject": message.subject},
        body=message.text,
        from_email=prepared.from_email,
        to=[actor.email],
        reply_to=[communication.reply_to],
    )
    email.attach_alternative(message.html, "text/html")
    if communication.kind == Communication.Kind.EVALUATION:
        # The learner's calendar invitation too, as the send attaches it (an event of
        # its own: the test's is never the learner's).
        from . import selectors
        from .sending.invitation import invitation_attachment
        from .sending.transport import attach_file

        attachment = invitation_attachment(
            prepared=prepared,
            learner_id=learner.pk,
            subject=message.subject,
            window=selectors.learner_window(
                selectors.AudienceSpec.of(communication, group_ids),
                learner_id=learner.pk,
            ),
            test=True,
        )
        if attachment is not None:
            attach_file(email, attachment)
    email.send()
    if communication.pk is not None:
        CommunicationEvent.objects.create(
            communication_id=communication.pk,
            actor=actor,
            action=CommunicationEvent.Action.TEST_SENT,
            # The learner by id only: the audit trail is append-only, and an erased
            # learner's id names nobody (RGPD).
            details={"learner_id": learner.pk, "to": actor.email},
        )
    return True


# The models that keep an encrypted password, in the order the commands go through
# them; and how many rows one transaction re-encrypts.
PASSWORD_MODELS: tuple[type[Communication] | type[Send], ...] = (Communication, Send)
PASSWORD_BATCH_SIZE = 500

# Called after each batch with the model, the rows done and the rows to do.
PasswordProgress = Callable[[type[Communication] | type[Send], int, int], None]


def _password_rows(
    model: type[Communication] | type[Send],
) -> Iterator[list[tuple[int, str]]]:
    """The (id, token) of every row of ``model`` that keeps a password, in batches by
    id: a batch is read when the previous one is done, so rows come in fixed memory."""
    after = 0
    while True:
        batch = list(
            model.objects.exclude(password_token="")
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "password_token")[:PASSWORD_BATCH_SIZE]
        )
        if not batch:
            return
        yield batch
        after = batch[-1][0]


def passwords_rotate(*, progress: PasswordProgress | None = None) -> int:
    """Re-encrypt every stored password (the communications' and the copies their sends
    keep) with the first key of FIELD_ENCRYPTION_KEYS, so the old keys can then be
    removed; returns how many were re-encrypted. Safe to run twice, and beside the
    application: each batch commits on its own, and a row whose token changed
    meanwhile (an edit, already with the first key) is left as it is. A row that no
    key decrypts is left unchanged: ``passwords_unreadable`` finds it."""
    count = 0
    for model in PASSWORD_MODELS:
        total = model.objects.exclude(password_token="").count()
        done = 0
        for batch in _password_rows(model):
            with transaction.atomic():
                for pk, token in batch:
                    try:
                        new = crypto.rotate(token)
                    except crypto.UnreadableToken:
                        continue
                    count += model.objects.filter(pk=pk, password_token=token).update(
                        password_token=new
                    )
            done += len(batch)
            if progress is not None:
                progress(model, done, total)
        if progress is not None and not done:
            progress(model, 0, 0)
    return count


def passwords_unreadable(
    *, progress: PasswordProgress | None = None
) -> dict[type[Communication] | type[Send], list[int]]:
    """The ids, by model, of the stored passwords that the first key of
    FIELD_ENCRYPTION_KEYS alone cannot decrypt; empty when the other keys can go."""
    unreadable: dict[type[Communication] | type[Send], list[int]] = {}
    for model in PASSWORD_MODELS:
        total = model.objects.exclude(password_token="").count()
        done = 0
        for batch in _password_rows(model):
            for pk, token in batch:
                if not crypto.readable_with_first_key(token):
                    unreadable.setdefault(model, []).append(pk)
            done += len(batch)
            if progress is not None:
                progress(model, done, total)
        if progress is not None and not done:
            progress(model, 0, 0)
    return unreadable
