"""A learner's personal data (RGPD): the one registry that export and erasure read.

``PERSONAL_DATA`` lists every model holding data about a learner, each with how it is
exported (its key in the export) and how it is erased (deleted, or anonymised where a
count must survive). ``export_learner`` and ``erase_learner`` go through this list
only, so a model added to it is exported and erased everywhere at once; a test fails
when a model with a link to ``Learner`` or a field named like an address, an
identifiant or a name is missing from it, and another searches every text column of
every table for an erased learner's identifiant, address and names.

Erasure runs in one transaction: everything goes, or nothing. It is recorded
(``LearnerErasure`` and a log line) without any data about the learner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from accounts.models import User
from communications import privacy as communications_privacy

from .models import (
    DailyActivity,
    Learner,
    LearnerErasure,
    Membership,
    UndeliverableAddress,
)
from .versions import sphere_data_changed

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "voltaire-communications/learner-export/1"


@dataclass(frozen=True)
class PersonalData:
    """One model holding learner data: how it is exported and how it is erased."""

    model: str  # « app_label.ModelName »
    erase: Callable[[Learner], int]  # returns the rows deleted or anonymised
    key: str = ""  # its key in the export
    export: Callable[[Learner], Any] | None = None
    not_exported: str = ""  # why it is not in the export, when it is not

    @property
    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)


# --- spheres ------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _profile_export(learner: Learner) -> dict[str, Any]:
    return {
        "identifiant": learner.identifiant,
        "first_name": learner.first_name,
        "last_name": learner.last_name,
        "email": learner.email,
        "level": learner.level,
        "is_active": learner.is_active,
        "unsubscribed_from_reminders_at": _iso(learner.unsubscribed_from_reminders_at),
        "reminders_resubscribed_at": _iso(learner.reminders_resubscribed_at),
        "created_at": _iso(learner.created_at),
        "updated_at": _iso(learner.updated_at),
    }


def _learner_erase(learner: Learner) -> int:
    deleted, _ = Learner.objects.filter(pk=learner.pk).delete()
    return deleted


def _groups_export(learner: Learner) -> list[str]:
    return list(
        Membership.objects.filter(learner=learner)
        .order_by("group__name")
        .values_list("group__name", flat=True)
    )


def _memberships_erase(learner: Learner) -> int:
    deleted, _ = Membership.objects.filter(learner=learner).delete()
    return deleted


def _activity_export(learner: Learner) -> list[dict[str, Any]]:
    return [
        {"date": date.isoformat(), "minutes": minutes}
        for date, minutes in DailyActivity.objects.filter(learner=learner)
        .order_by("date")
        .values_list("date", "minutes")
    ]


def _activity_erase(learner: Learner) -> int:
    deleted, _ = DailyActivity.objects.filter(learner=learner).delete()
    return deleted


def _marks(learner: Learner) -> models.QuerySet[UndeliverableAddress]:
    if not learner.email:
        return UndeliverableAddress.objects.none()
    return UndeliverableAddress.objects.filter(
        sphere_id=learner.sphere_id, email=learner.email.lower()
    )


def _marks_export(learner: Learner) -> list[dict[str, Any]]:
    return [
        {
            "email": mark.email,
            "source": mark.source,
            "reason": mark.reason,
            "marked_at": _iso(mark.marked_at),
        }
        for mark in _marks(learner).order_by("marked_at")
    ]


def _marks_erase(learner: Learner) -> int:
    """The mark on the learner's address goes, unless another learner of the sphere has
    that address too: the mark is theirs as well, and protects their sends."""
    shared = (
        Learner.objects.filter(sphere_id=learner.sphere_id, email__iexact=learner.email)
        .exclude(pk=learner.pk)
        .exists()
    )
    if shared:
        return 0
    deleted, _ = _marks(learner).delete()
    return deleted


def _admin_log_erase(learner: Learner) -> int:
    """The Django admin's journal names an object as it was (« Léa Martin (lea.m) »)."""
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Learner),
        object_id=str(learner.pk),
    ).update(object_repr=communications_privacy.ERASED_PLACEHOLDER, change_message="")


# The registry, in the order of the export. Erasure runs it in the same order, the
# learner's own row last.
PERSONAL_DATA: tuple[PersonalData, ...] = (
    PersonalData(
        "spheres.Learner", key="profile", export=_profile_export, erase=_learner_erase
    ),
    PersonalData(
        "spheres.Membership",
        key="groups",
        export=_groups_export,
        erase=_memberships_erase,
    ),
    PersonalData(
        "spheres.DailyActivity",
        key="activity",
        export=_activity_export,
        erase=_activity_erase,
    ),
    PersonalData(
        "communications.Delivery",
        key="messages",
        export=communications_privacy.deliveries_export,
        erase=communications_privacy.deliveries_erase,
    ),
    PersonalData(
        "communications.AnnouncementReceipt",
        key="announcements_received",
        export=communications_privacy.receipts_export,
        erase=communications_privacy.receipts_erase,
    ),
    PersonalData(
        "spheres.UndeliverableAddress",
        key="undeliverable_marks",
        export=_marks_export,
        erase=_marks_erase,
    ),
    PersonalData(
        "communications.CommunicationEvent",
        key="test_messages",
        export=communications_privacy.sent_tests_export,
        erase=communications_privacy.sent_tests_erase,
    ),
    PersonalData(
        "admin.LogEntry",
        erase=_admin_log_erase,
        not_exported="the support staff's journal: it only names the learner",
    ),
)


def export_learner(learner: Learner) -> dict[str, Any]:
    """Everything stored about the learner, as JSON-ready data (the page's download and
    ``manage.py export_learner`` both write this)."""
    data: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "sphere": {"name": learner.sphere.name, "slug": learner.sphere.slug},
    }
    for entry in PERSONAL_DATA:
        if entry.export is not None:
            data[entry.key] = entry.export(learner)
    return data


def erase_learner(
    *,
    learner: Learner,
    actor: User | None,
    via: str = LearnerErasure.Via.PAGE,
) -> LearnerErasure:
    """Delete the learner and everything about them, anonymise their delivery rows (the
    sends keep their counts), in one transaction; record it without personal data."""
    learner_id, sphere = learner.pk, learner.sphere
    with transaction.atomic():
        # Locked: an import updating this learner, or a dispatch reading them, waits.
        Learner.objects.select_for_update().filter(pk=learner_id).exists()
        counts: dict[str, int] = {}
        learner_entries = [e for e in PERSONAL_DATA if e.model == "spheres.Learner"]
        others = [e for e in PERSONAL_DATA if e.model != "spheres.Learner"]
        for entry in [*others, *learner_entries]:
            counts[entry.model] = entry.erase(learner)
        erasure = LearnerErasure.objects.create(
            sphere=sphere, erased_by=actor, via=via, counts=counts
        )
        sphere_data_changed(sphere_id=sphere.pk)
    logger.info(
        "learner %d of sphere %s erased by user %s (via %s): %s",
        learner_id,
        sphere.slug,
        actor.pk if actor is not None else "-",
        via,
        counts,
    )
    return erasure
