"""Writes on the domain: every change to spheres, groups, learners and evaluations."""

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User

from . import selectors
from .models import (
    DailyActivity,
    Evaluation,
    EvaluationWindow,
    Group,
    Learner,
    Membership,
    SchoolHoliday,
    SchoolZone,
    Sphere,
    UndeliverableAddress,
)
from .versions import sphere_data_changed

logger = logging.getLogger(__name__)

# Rows deleted per transaction by the retention purges.
PURGE_BATCH_SIZE = 5000


class ServiceError(Exception):
    """A rule refused the change; the message is safe to show (French, for users)."""


def sphere_create(
    *, name: str, slug: str | None = None, timezone: str = "Europe/Paris"
) -> Sphere:
    sphere = Sphere(name=name.strip(), slug=slug or slugify(name), timezone=timezone)
    sphere.full_clean()
    sphere.save()
    return sphere


def sphere_settings_update(
    *,
    sphere: Sphere,
    school_zone: str,
    holiday_subdivision: str,
    one_reminder_per_day: bool,
) -> Sphere:
    """The sphere's settings page: its school calendar and the reminder cap.

    The cap applies from the next reminder dispatched: the sends already written keep
    their delivery rows. A new calendar moves the next sends of the communications that
    follow it (and their skips to come) at once."""
    calendar_changed = (sphere.school_zone, sphere.holiday_subdivision) != (
        school_zone,
        holiday_subdivision,
    )
    sphere.school_zone = school_zone
    sphere.holiday_subdivision = holiday_subdivision
    sphere.one_reminder_per_day = one_reminder_per_day
    sphere.full_clean(
        exclude=[
            f.name
            for f in Sphere._meta.fields
            if f.name
            not in ("school_zone", "holiday_subdivision", "one_reminder_per_day")
        ]
    )
    with transaction.atomic():
        sphere.save(
            update_fields=["school_zone", "holiday_subdivision", "one_reminder_per_day"]
        )
        if calendar_changed:
            _communications_reschedule(sphere)
    return sphere


def _communications_reschedule(sphere: Sphere) -> None:
    # Imported here: communications depends on spheres, not the other way round.
    from communications.services import communications_reschedule

    communications_reschedule(sphere=sphere)


def sphere_admin_add(
    *, sphere: Sphere, email: str, password: str | None = None
) -> User:
    """Give ``email`` the administration of ``sphere``, creating the account if needed.

    An existing account keeps its password unless one is given.
    """
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=password)
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
        sphere.administrators.add(user)
    return user


def _group_name_taken(name: str) -> ServiceError:
    return ServiceError(
        _("Un groupe « %(name)s » existe déjà dans cette sphère.") % {"name": name}
    )


def group_create(*, sphere: Sphere, name: str) -> Group:
    name = name.strip()
    if not name:
        raise ServiceError(_("Indiquez le nom du groupe."))
    if Group.objects.filter(sphere=sphere, name=name).exists():
        raise _group_name_taken(name)
    try:
        # The unique constraint still decides when two requests race past the check.
        with transaction.atomic():
            group = Group.objects.create(sphere=sphere, name=name)
    except IntegrityError:
        raise _group_name_taken(name) from None
    # The first group of a sphere changes who « every group » covers.
    sphere_data_changed(sphere_id=sphere.pk)
    return group


def group_rename(*, group: Group, name: str) -> Group:
    name = name.strip()
    if not name:
        raise ServiceError(_("Indiquez le nom du groupe."))
    if (
        Group.objects.filter(sphere_id=group.sphere_id, name=name)
        .exclude(pk=group.pk)
        .exists()
    ):
        raise _group_name_taken(name)
    previous, group.name = group.name, name
    try:
        with transaction.atomic():
            group.save(update_fields=["name"])
    except IntegrityError:
        group.name = previous
        raise _group_name_taken(name) from None
    return group


def _names(objects: Iterable[object]) -> str:
    return ", ".join(f"« {obj} »" for obj in objects)


def group_delete(*, group: Group) -> None:
    """Delete the group; its learners stay in the sphere, without this group.

    Refused (``ServiceError``) while the group is the only group of an active
    communication: that communication would silently lose the audience its
    administrator chose. Where an active communication also targets other groups, it
    keeps those.
    """
    with transaction.atomic():
        # Locking the row makes a concurrent choice of this group for a communication
        # (its insert references the row) wait, then fail, instead of vanishing.
        list(Group.objects.select_for_update().filter(pk=group.pk))
        sole = [
            communication
            for communication in selectors.group_active_communications(group=group)
            if not communication.has_other_groups
        ]
        if sole:
            raise ServiceError(
                ngettext(
                    "Le groupe « %(group)s » est le seul groupe de la communication "
                    "active %(names)s : modifiez-la pour choisir un autre groupe, ou "
                    "désactivez-la, avant de supprimer ce groupe.",
                    "Le groupe « %(group)s » est le seul groupe des communications "
                    "actives %(names)s : modifiez-les pour choisir un autre groupe, ou "
                    "désactivez-les, avant de supprimer ce groupe.",
                    len(sole),
                )
                % {"group": group, "names": _names(sole)}
            )
        group.delete()
    sphere_data_changed(sphere_id=group.sphere_id)


def group_add_learners(*, group: Group, learners: Iterable[Learner]) -> int:
    """Put learners of the group's sphere into it; returns how many were added."""
    ids = [learner.pk for learner in learners if learner.sphere_id == group.sphere_id]
    existing = set(
        Membership.objects.filter(group=group, learner_id__in=ids).values_list(
            "learner_id", flat=True
        )
    )
    created = Membership.objects.bulk_create(
        [Membership(group=group, learner_id=pk) for pk in ids if pk not in existing]
    )
    sphere_data_changed(sphere_id=group.sphere_id)
    return len(created)


def group_remove_learners(*, group: Group, learners: Iterable[Learner]) -> int:
    """Take learners out of the group; returns how many were removed."""
    deleted, _per_model = Membership.objects.filter(
        group=group, learner_id__in=[learner.pk for learner in learners]
    ).delete()
    sphere_data_changed(sphere_id=group.sphere_id)
    return deleted


Window = tuple[Group, dt.datetime, dt.datetime]


def _evaluation_validate(
    *,
    sphere: Sphere,
    name: str,
    windows: list[Window],
    evaluation: Evaluation | None = None,
) -> None:
    """The rules of an evaluation's name and windows (``evaluation``: the one edited)."""
    if not name:
        raise ServiceError(_("Indiquez le nom de l'évaluation."))
    if not windows:
        raise ServiceError(_("Une évaluation a au moins un groupe avec ses dates."))
    for group, starts_at, ends_at in windows:
        if group.sphere_id != sphere.pk:
            raise ServiceError(
                _("Le groupe « %(group)s » n'appartient pas à cette sphère.")
                % {"group": group}
            )
        if ends_at <= starts_at:
            raise ServiceError(
                _("Pour « %(group)s », la fin doit être après le début.")
                % {"group": group}
            )
    if len({window[0].pk for window in windows}) != len(windows):
        raise ServiceError(_("Chaque groupe n'a qu'un créneau par évaluation."))
    same_name = Evaluation.objects.filter(sphere=sphere, name=name)
    if evaluation is not None:
        same_name = same_name.exclude(pk=evaluation.pk)
    if same_name.exists():
        raise _evaluation_name_taken(name)


def evaluation_create(
    *, sphere: Sphere, name: str, windows: Iterable[Window]
) -> Evaluation:
    """Create an evaluation with one window per group, each ending after it starts."""
    name = name.strip()
    windows = list(windows)
    _evaluation_validate(sphere=sphere, name=name, windows=windows)
    try:
        with transaction.atomic():
            evaluation = Evaluation.objects.create(sphere=sphere, name=name)
            EvaluationWindow.objects.bulk_create(
                EvaluationWindow(evaluation=evaluation, group=g, starts_at=s, ends_at=e)
                for g, s, e in windows
            )
    except IntegrityError:
        # Only a concurrent creation of the same name gets here: the checks above
        # already cover every other constraint.
        raise _evaluation_name_taken(name) from None
    return evaluation


def _evaluation_name_taken(name: str) -> ServiceError:
    return ServiceError(
        _("Une évaluation « %(name)s » existe déjà dans cette sphère.") % {"name": name}
    )


def evaluation_update(
    *, evaluation: Evaluation, name: str, windows: Iterable[Window]
) -> Evaluation:
    """Rename the evaluation and replace its windows: a group's window changes, is
    added, or is removed when the group is not in ``windows``.

    Same rules as ``evaluation_create``. Removing the window of a group that an active
    communication announces the evaluation to is refused (``ServiceError`` naming the
    communications): its learners would silently lose their dates. Later sends read the
    windows as they are then, so they use the new dates.
    """
    name = name.strip()
    windows = list(windows)
    sphere = evaluation.sphere
    _evaluation_validate(
        sphere=sphere, name=name, windows=windows, evaluation=evaluation
    )
    kept = {group.pk for group, _starts_at, _ends_at in windows}
    try:
        with transaction.atomic():
            # Two edits of the same evaluation run one after the other, each on the
            # windows the other left.
            list(Evaluation.objects.select_for_update().filter(pk=evaluation.pk))
            current = {
                window.group_id: window
                for window in evaluation.windows.select_related("group")
            }
            removed = [w.group for w in current.values() if w.group_id not in kept]
            targeted = selectors.evaluation_active_communications_by_group(
                evaluation=evaluation, groups=removed
            )
            if targeted:
                raise ServiceError(
                    " ".join(
                        ngettext(
                            "Impossible de retirer le créneau du groupe « %(group)s » : "
                            "la communication active %(names)s annonce cette "
                            "évaluation à ce groupe. Modifiez-la pour retirer ce "
                            "groupe, ou désactivez-la, avant de retirer ce créneau.",
                            "Impossible de retirer le créneau du groupe « %(group)s » : "
                            "les communications actives %(names)s annoncent cette "
                            "évaluation à ce groupe. Modifiez-les pour retirer ce "
                            "groupe, ou désactivez-les, avant de retirer ce créneau.",
                            len(communications),
                        )
                        % {"group": group, "names": _names(communications)}
                        for group, communications in targeted.items()
                    )
                )
            if name != evaluation.name:
                evaluation.name = name
                evaluation.save(update_fields=["name"])
            EvaluationWindow.objects.filter(
                evaluation=evaluation, group_id__in=[g.pk for g in removed]
            ).delete()
            for group, starts_at, ends_at in windows:
                window = current.get(group.pk)
                if window is None:
                    EvaluationWindow.objects.create(
                        evaluation=evaluation,
                        group=group,
                        starts_at=starts_at,
                        ends_at=ends_at,
                    )
                elif (window.starts_at, window.ends_at) != (starts_at, ends_at):
                    window.starts_at, window.ends_at = starts_at, ends_at
                    window.save(update_fields=["starts_at", "ends_at"])
    except IntegrityError:
        # Only a concurrent use of the same name gets here.
        evaluation.refresh_from_db(fields=["name"])
        raise _evaluation_name_taken(name) from None
    return evaluation


def evaluation_delete(*, evaluation: Evaluation) -> None:
    """Delete the evaluation and its windows.

    Refused (``ServiceError``) while something protects it, such as a communication
    announcing it.
    """
    try:
        with transaction.atomic():
            evaluation.delete()
    except ProtectedError:
        raise ServiceError(
            _(
                "L'évaluation « %(name)s » est utilisée par une communication : "
                "elle ne peut pas être supprimée."
            )
            % {"name": evaluation}
        ) from None


def learner_address_clear_mark(*, learner: Learner) -> bool:
    """The administrator lifts the « adresse en échec permanent » mark on the learner's
    address (they know it works again): later sends reach it. Returns whether there
    was a mark."""
    deleted, _ = UndeliverableAddress.objects.filter(
        sphere_id=learner.sphere_id, email=learner.email.lower()
    ).delete()
    return bool(deleted)


def learner_reminders_unsubscribe(
    *, learner_id: int, sphere_id: int, now: dt.datetime | None = None
) -> Learner | None:
    """The learner asked, through the link of a reminder, to receive no more reminders
    (announcements and evaluation notices still reach them). Safe to run twice: the
    first date is kept. ``None`` if the learner no longer exists in that sphere."""
    now = now or timezone.now()
    with transaction.atomic():
        Learner.objects.filter(
            pk=learner_id, sphere_id=sphere_id, unsubscribed_from_reminders_at=None
        ).update(unsubscribed_from_reminders_at=now, updated_at=now)
        return Learner.objects.filter(pk=learner_id, sphere_id=sphere_id).first()


def learner_reminders_resubscribe(
    *, learner: Learner, actor: User, now: dt.datetime | None = None
) -> bool:
    """An administrator records that the learner asked to receive reminders again:
    who and when are kept. Returns whether the learner was unsubscribed."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = Learner.objects.filter(
            pk=learner.pk, unsubscribed_from_reminders_at__isnull=False
        ).update(
            unsubscribed_from_reminders_at=None,
            reminders_resubscribed_at=now,
            reminders_resubscribed_by=actor,
            updated_at=now,
        )
    if changed:
        learner.refresh_from_db()
    return bool(changed)


def activity_purge(
    *,
    older_than_days: int,
    batch_size: int = PURGE_BATCH_SIZE,
    today: dt.date | None = None,
) -> int:
    """Delete the daily activity dated more than ``older_than_days`` days ago, in
    batches of ``batch_size`` rows, one transaction each (beat runs it every night with
    ``ACTIVITY_RETENTION_DAYS``). Returns the rows deleted. Safe to run twice."""
    today = today or timezone.now().date()
    old = DailyActivity.objects.filter(
        date__lt=today - dt.timedelta(days=older_than_days)
    )
    total = 0
    while True:
        with transaction.atomic():
            ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            deleted, _ = DailyActivity.objects.filter(pk__in=ids).delete()
        total += deleted
        logger.info(
            "purge of activity older than %d days: %d rows deleted so far",
            older_than_days,
            total,
        )
    return total


@dataclass(frozen=True)
class SchoolPeriod:
    """A school holiday period to store: both days included."""

    name: str
    first_day: dt.date
    last_day: dt.date


@dataclass(frozen=True)
class SchoolCalendarReplaced:
    """What ``sphere_school_calendar_replace`` did: ``periods`` stored, ``removed``
    periods of the previous import, and the sphere's zone before (``SchoolZone``)."""

    periods: int
    removed: int
    previous_zone: str
    first_day: dt.date | None
    last_day: dt.date | None


def sphere_school_calendar_replace(
    *, sphere: Sphere, periods: Sequence[SchoolPeriod]
) -> SchoolCalendarReplaced:
    """Make ``periods`` the sphere's imported school holidays, in place of the previous
    ones, and have the sphere follow them (``school_zone`` = imported), in one
    transaction. The periods are checked by the caller (``importers``): they do not
    overlap and each ends on or after its first day."""
    with transaction.atomic():
        # Locked: two imports for the same sphere run one after the other.
        locked = Sphere.objects.select_for_update().get(pk=sphere.pk)
        previous_zone = locked.school_zone
        removed, _ = SchoolHoliday.objects.filter(sphere=locked).delete()
        SchoolHoliday.objects.bulk_create(
            SchoolHoliday(
                sphere=locked,
                name=period.name,
                first_day=period.first_day,
                last_day=period.last_day,
            )
            for period in periods
        )
        if previous_zone != SchoolZone.IMPORTED:
            locked.school_zone = SchoolZone.IMPORTED
            locked.save(update_fields=["school_zone"])
        _communications_reschedule(locked)
    sphere.school_zone = SchoolZone.IMPORTED
    return SchoolCalendarReplaced(
        periods=len(periods),
        removed=removed,
        previous_zone=previous_zone,
        first_day=min((p.first_day for p in periods), default=None),
        last_day=max((p.last_day for p in periods), default=None),
    )
