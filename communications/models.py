"""Communications: automatic, personalised e-mails from a sphere to its learners.

A deactivated communication can never come back: the service refuses it, the admin shows
the state read-only, and a database trigger (migration 0002) refuses any update that moves
a row out of ``deactivated``.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from spheres.models import Evaluation, Group, Sphere

# The reminder's audience criteria, combined with AND: the one list the form, the
# services, the audience query and « Pourquoi ? » read (``minutes_days`` goes with
# ``max_minutes``; the others are criteria on their own).
REMINDER_CRITERIA = (
    "max_minutes",
    "minutes_days",
    "max_level",
    "min_level",
    "never_started",
    "inactive_days",
)
# The fields of each type besides the common ones.
KIND_FIELDS = {
    "announcement": (),
    "reminder": REMINDER_CRITERIA,
    "evaluation": ("evaluation",),
}

# Fields an administrator edits; the audit trail records which of them changed.
EDITABLE_FIELDS = (
    "name",
    "reply_to",
    "subject",
    "message",
    "evaluation",
    *REMINDER_CRITERIA,
    "frequency",
    "start_date",
    "send_time",
    "weekdays",
    "month_day",
    "end_date",
    "holiday_policy",
    "weekly_digest",
)


class Communication(models.Model):
    class Kind(models.TextChoices):
        ANNOUNCEMENT = (
            "announcement",
            _("Annonce de la mise à disposition du Projet Voltaire"),
        )
        REMINDER = "reminder", _("Relance des utilisateurs")
        EVALUATION = "evaluation", _("Annonce d'une évaluation")

    class Frequency(models.TextChoices):
        ONCE = "once", _("Envoi unique")
        DAILY = "daily", _("Tous les jours")
        WEEKLY = "weekly", _("Toutes les semaines")
        MONTHLY = "monthly", _("Tous les mois")

    class HolidayPolicy(models.TextChoices):
        """What a recurring send does on a day the sphere's school calendar closes."""

        IGNORE = "", _("Envoyer aussi pendant les vacances et les jours fériés")
        SKIP = (
            "skip",
            _("Ne pas envoyer pendant les vacances scolaires ni les jours fériés"),
        )
        MOVE = "move", _("Reporter au jour ouvré suivant")

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Terminée")
        DEACTIVATED = "deactivated", _("Désactivée")

    sphere = models.ForeignKey(
        Sphere,
        on_delete=models.CASCADE,
        related_name="communications",
        verbose_name=_("sphère"),
    )
    name = models.CharField(_("nom de la communication"), max_length=200)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    reply_to = models.EmailField(_("votre adresse électronique"))
    subject = models.CharField(_("objet"), max_length=250)
    message = models.TextField(_("message"))

    # Audience: the groups chosen; the rule that derives the learners from them at every
    # send is in selectors.audience_rules (never stored: it would go stale).
    groups = models.ManyToManyField(
        Group, related_name="communications", blank=True, verbose_name=_("groupes")
    )
    evaluation = models.ForeignKey(
        Evaluation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="communications",
        verbose_name=_("évaluation"),
    )
    # Reminder criteria, combined with AND; "less than" and "below" are strict.
    max_minutes = models.PositiveIntegerField(
        _("moins de (minutes)"), null=True, blank=True
    )
    minutes_days = models.PositiveSmallIntegerField(
        _("au cours des derniers (jours)"), null=True, blank=True
    )
    max_level = models.PositiveSmallIntegerField(
        _("niveau inférieur à (%)"), null=True, blank=True
    )
    min_level = models.PositiveSmallIntegerField(
        _("niveau d'au moins (%)"), null=True, blank=True
    )
    never_started = models.BooleanField(_("n'ont jamais commencé"), default=False)
    inactive_days = models.PositiveSmallIntegerField(
        _("inactifs depuis (jours)"), null=True, blank=True
    )

    # The shared first-login password of an announcement, Fernet-encrypted (crypto.py).
    password_token = models.TextField(
        _("mot de passe (chiffré)"), blank=True, editable=False
    )

    # Frequency: wall-clock times in the sphere's time zone.
    frequency = models.CharField(
        _("fréquence"), max_length=10, choices=Frequency.choices, default=Frequency.ONCE
    )
    start_date = models.DateField(_("date de début"))
    send_time = models.TimeField(_("heure d'envoi"))
    weekdays = models.PositiveSmallIntegerField(
        _("jours de la semaine"),
        default=0,
        help_text=_("Lundi = 1, mardi = 2, mercredi = 4…"),
    )
    month_day = models.PositiveSmallIntegerField(
        _("jour du mois"), null=True, blank=True
    )
    end_date = models.DateField(_("date de fin"), null=True, blank=True)
    holiday_policy = models.CharField(
        _("vacances et jours fériés"),
        max_length=8,
        choices=HolidayPolicy.choices,
        default=HolidayPolicy.IGNORE,
        blank=True,
    )
    # Reminders: every Monday, a summary to the reply-to address (opt-in).
    weekly_digest = models.BooleanField(_("bilan hebdomadaire"), default=False)

    # Schedule (UTC) and state
    next_send_at = models.DateTimeField(
        _("prochain envoi"), null=True, blank=True, editable=False
    )
    last_sent_at = models.DateTimeField(
        _("dernier envoi"), null=True, blank=True, editable=False
    )
    state = models.CharField(
        _("état"),
        max_length=12,
        choices=State.choices,
        default=State.ACTIVE,
        editable=False,
    )
    deactivated_at = models.DateTimeField(
        _("désactivée le"), null=True, blank=True, editable=False
    )
    deactivated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("désactivée par"),
    )
    duplicated_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="duplicates",
        editable=False,
        verbose_name=_("copie de"),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        editable=False,
        verbose_name=_("créée par"),
    )
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        editable=False,
        verbose_name=_("modifiée par"),
    )

    class Meta:
        verbose_name = _("communication")
        verbose_name_plural = _("communications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "next_send_at"])]
        # Support's action in the Django admin (« Désactiver »), without the change
        # permission: the admin never edits a communication.
        permissions = [("deactivate_communication", "Can deactivate a communication")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="evaluation", evaluation__isnull=False)
                | (~Q(kind="evaluation") & Q(evaluation__isnull=True)),
                name="communication_evaluation_iff_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind="announcement") | Q(password_token=""),
                name="communication_password_only_announcement",
            ),
            models.CheckConstraint(
                condition=~Q(kind="reminder")
                | Q(max_minutes__isnull=False)
                | Q(max_level__isnull=False)
                | Q(min_level__isnull=False)
                | Q(inactive_days__isnull=False)
                | Q(never_started=True),
                name="communication_reminder_has_criterion",
            ),
            models.CheckConstraint(
                condition=Q(max_minutes__isnull=True, minutes_days__isnull=True)
                | Q(max_minutes__isnull=False, minutes_days__gte=1),
                name="communication_minutes_need_days",
            ),
            models.CheckConstraint(
                condition=(Q(max_level__isnull=True) | Q(max_level__lte=100))
                & (Q(min_level__isnull=True) | Q(min_level__lte=100))
                & (Q(inactive_days__isnull=True) | Q(inactive_days__gte=1)),
                name="communication_criteria_ranges",
            ),
            models.CheckConstraint(
                condition=~Q(frequency="weekly")
                | Q(weekdays__gte=1, weekdays__lte=127),
                name="communication_weekly_has_weekdays",
            ),
            models.CheckConstraint(
                condition=~Q(frequency="monthly")
                | Q(month_day__gte=1, month_day__lte=31),
                name="communication_monthly_has_day",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="communication_end_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(state="deactivated") | Q(deactivated_at__isnull=False),
                name="communication_deactivated_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def short_kind_label(self) -> str:
        """« Annonce », « Relance », « Évaluation »: the list's short type label."""
        return str(SHORT_KIND_LABELS[self.kind])

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE

    @property
    def is_deactivated(self) -> bool:
        return self.state == self.State.DEACTIVATED

    @property
    def has_password(self) -> bool:
        return bool(self.password_token)


SHORT_KIND_LABELS: dict[str, Any] = {
    Communication.Kind.ANNOUNCEMENT: _("Annonce"),
    Communication.Kind.REMINDER: _("Relance"),
    Communication.Kind.EVALUATION: _("Évaluation"),
}


class CommunicationEvent(models.Model):
    """The audit trail: who did what to a communication, and when. Append-only.

    Recorded by the services: creation, modification (which fields), duplication,
    deactivation, a test sent, failed messages sent again (which rows, by whom: an
    administrator, support in the Django admin, or ops), a schedule change notice sent
    (its send, how many messages).

    Database triggers (migration ``audit_trail_append_only``) refuse any UPDATE or DELETE of a row, on every
    path (ORM, admin, raw SQL), with two exceptions that follow a parent's deletion
    and that the trigger checks: the communication is gone (its events go with it),
    or the actor's account is gone (the event stays, without its actor). Hence
    ``DO_NOTHING`` here: the database does the cascade, not Django's collector, so that
    the trigger sees the parent already deleted.
    """

    class Action(models.TextChoices):
        CREATED = "created", _("Création")
        MODIFIED = "modified", _("Modification")
        DUPLICATED = "duplicated", _("Duplication")
        DEACTIVATED = "deactivated", _("Désactivation")
        TEST_SENT = "test_sent", _("Envoi d'un test")
        RETRIED = "retried", _("Renvoi des messages en échec")
        RESCHEDULED = "rescheduled", _("Envoi d'un changement d'horaire")

    class Origin(models.TextChoices):
        """Where an action came from (``details["origin"]``), when not the pages."""

        ADMIN = "admin", _("administration Django (support)")
        COMMAND = "command", _("commande d'exploitation")

    communication = models.ForeignKey(
        Communication,
        on_delete=models.DO_NOTHING,
        related_name="events",
        verbose_name=_("communication"),
    )
    action = models.CharField(_("action"), max_length=12, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        null=True,
        related_name="+",
        verbose_name=_("par"),
    )
    at = models.DateTimeField(_("le"), auto_now_add=True)
    details = models.JSONField(_("détails"), default=dict, blank=True)

    class Meta:
        verbose_name = _("événement")
        verbose_name_plural = _("historique des modifications")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} — {self.communication}"


class Send(models.Model):
    """One send of a communication at one scheduled time (unique: beat running twice or
    two dispatchers racing create it once)."""

    class Status(models.TextChoices):
        SENDING = "sending", _("En cours")
        DONE = "done", _("Terminé")
        CANCELLED = "cancelled", _("Arrêté (communication désactivée)")
        # A recurring send the school calendar skipped: no delivery row, the reason
        # in ``note`` (« vacances de Noël, zone C »).
        SKIPPED = "skipped", _("Sauté")

    class Purpose(models.TextChoices):
        """What a send is: the communication's own schedule, or a message the engine
        sends on its behalf."""

        SCHEDULED = "scheduled", _("Envoi programmé")
        DIGEST = "digest", _("Bilan hebdomadaire")
        SCHEDULE_CHANGE = "schedule_change", _("Changement d'horaire")

    communication = models.ForeignKey(
        Communication,
        on_delete=models.CASCADE,
        related_name="sends",
        verbose_name=_("communication"),
    )
    scheduled_for = models.DateTimeField(_("prévu pour"))
    created_at = models.DateTimeField(_("lancé le"), auto_now_add=True)
    finished_at = models.DateTimeField(_("terminé le"), null=True, blank=True)
    status = models.CharField(
        _("état"), max_length=10, choices=Status.choices, default=Status.SENDING
    )
    purpose = models.CharField(
        _("nature"), max_length=16, choices=Purpose.choices, default=Purpose.SCHEDULED
    )
    # Why a send was skipped or moved (shown in the history).
    note = models.CharField(_("remarque"), max_length=200, blank=True)
    # Learners of the audience left out because they already received this announcement
    # in an earlier send (counted, not one row each: a daily announcement would otherwise
    # write the whole sphere every day).
    already_received = models.PositiveIntegerField(_("déjà reçue"), default=0)

    # What this send sends, copied from the communication at dispatch: chunks, retries
    # and « Renvoyer » use this copy, so an edit changes later sends only.
    subject = models.CharField(_("objet"), max_length=250, blank=True)
    message = models.TextField(_("message"), blank=True)
    reply_to = models.CharField(_("adresse de réponse"), max_length=254, blank=True)
    # The first-login password as it was at dispatch, still encrypted (crypto.py).
    password_token = models.TextField(blank=True, editable=False)

    class Meta:
        verbose_name = _("envoi")
        verbose_name_plural = _("envois")
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["communication", "purpose", "scheduled_for"],
                name="send_once_per_purpose_and_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.communication} — {self.scheduled_for:%Y-%m-%d %H:%M}"


class Delivery(models.Model):
    """One learner's message for one send (unique per send and learner). Its status is
    claimed atomically (PENDING → SENDING) so a message is handed to the mail server once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("En attente")
        SENDING = "sending", _("En cours d'envoi")
        SENT = "sent", _("Envoyé")
        FAILED = "failed", _("Échec")
        SKIPPED = "skipped", _("Non envoyé")
        CANCELLED = "cancelled", _("Annulé")

    class Reason(models.TextChoices):
        NO_EMAIL = "no_email", _("Pas d'adresse électronique")
        INVALID_EMAIL = (
            "invalid_email",
            _("Adresse que la plateforme ne peut pas utiliser"),
        )
        UNDELIVERABLE = "undeliverable", _("Adresse en échec permanent")
        INACTIVE = "inactive", _("Utilisateur désactivé")
        UNSUBSCRIBED = "unsubscribed", _("Désinscrit des relances")
        DEACTIVATED = "deactivated", _("Communication désactivée")
        ALREADY_REMINDED = "already_reminded", _("Déjà relancé aujourd'hui")

    # No index of their own: (send, learner) and (send, status) start with send, and
    # (learner, status) with learner. Each index is one more write per outcome.
    send = models.ForeignKey(
        Send,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("envoi"),
        db_index=False,
    )
    learner = models.ForeignKey(
        "spheres.Learner",
        on_delete=models.SET_NULL,
        null=True,
        related_name="deliveries",
        verbose_name=_("utilisateur"),
        db_index=False,
    )
    # What the message is made of, captured at dispatch: the send renders the learner as
    # they were in the audience, and the history survives the learner's deletion.
    email = models.CharField(_("adresse"), max_length=254, blank=True)
    identifiant = models.CharField(_("identifiant"), max_length=150)
    first_name = models.CharField(_("prénom"), max_length=150, blank=True)
    last_name = models.CharField(_("nom"), max_length=150, blank=True)
    window_starts_at = models.DateTimeField(null=True, blank=True)
    window_ends_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(
        _("résultat"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    reason = models.CharField(
        _("motif"), max_length=20, choices=Reason.choices, blank=True
    )
    error = models.TextField(_("erreur"), blank=True)
    # Each claim by a send task counts one attempt (SEND_RETRY_BACKOFF bounds them).
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    # PENDING rows: queued_at is when a task was enqueued for them; next_attempt_at,
    # when set, is when they are due again after a temporary failure (no task queued).
    queued_at = models.DateTimeField(_("mis en file le"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        _("prochaine tentative"), null=True, blank=True
    )
    claimed_at = models.DateTimeField(_("pris en charge le"), null=True, blank=True)
    claim = models.UUIDField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["send", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["send", "learner"], name="delivery_once_per_send_and_learner"
            ),
        ]
        indexes = [
            models.Index(fields=["send", "status"]),
            models.Index(fields=["learner", "status"]),
            # The recovery pass looks only at rows in flight: small partial indexes.
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="sending"),
                name="delivery_sending_claimed_at",
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending", next_attempt_at__isnull=False),
                name="delivery_retry_due",
            ),
            models.Index(
                fields=["queued_at"],
                condition=Q(status="pending", next_attempt_at__isnull=True),
                name="delivery_pending_queued_at",
            ),
            # Support's « Échec » filter in the Django admin, newest first: only failed
            # rows, so an outcome that is not a failure writes nothing here.
            models.Index(
                fields=["-id"],
                condition=Q(status="failed"),
                name="delivery_failed",
            ),
        ]
        # Support's action in the Django admin, without the change permission.
        permissions = [("retry_delivery", "Can send failed messages again")]

    def __str__(self) -> str:
        return f"{self.identifiant} — {self.get_status_display()}"


class AnnouncementReceipt(models.Model):
    """That a learner received an active announcement, once its delivery row is gone.

    An announcement reaches each learner once ever; the nightly purge deletes delivery
    rows older than ``DELIVERY_RETENTION_DAYS`` and keeps only this fact (no address,
    no name) for the announcements still active, so that they are not sent again.
    """

    communication = models.ForeignKey(
        Communication,
        on_delete=models.CASCADE,
        related_name="receipts",
        verbose_name=_("communication"),
        db_index=False,  # the unique constraint starts with communication
    )
    learner = models.ForeignKey(
        "spheres.Learner",
        on_delete=models.CASCADE,
        related_name="announcement_receipts",
        verbose_name=_("utilisateur"),
    )

    class Meta:
        verbose_name = _("annonce reçue")
        verbose_name_plural = _("annonces reçues")
        ordering = ["communication", "learner"]
        constraints = [
            models.UniqueConstraint(
                fields=["communication", "learner"], name="receipt_once_per_learner"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.communication_id} → {self.learner_id}"


def field_label(name: str) -> str:
    """The French name of a communication's field, as the audit trail shows it."""
    extra = {"groups": _("groupes"), "password": _("mot de passe")}
    if name in extra:
        return str(extra[name])
    try:
        field = Communication._meta.get_field(name)
        return str(getattr(field, "verbose_name", name))
    except FieldDoesNotExist:  # a field removed since the event was recorded
        return name
