"""The domain: spheres, their groups, learners, daily activity and evaluations.

Invariants live in the database (unique and check constraints, and triggers installed by
migration 0002 that refuse a group membership or an evaluation window crossing spheres).
"""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

DEFAULT_TIMEZONE = "Europe/Paris"


class HolidaySubdivision(models.TextChoices):
    """Where French public holidays differ (codes of the ``holidays`` package)."""

    METROPOLE = "", _("France métropolitaine")
    MOSELLE = "57", _("Moselle")
    ALSACE = "6AE", _("Alsace (Bas-Rhin, Haut-Rhin)")
    GUADELOUPE = "971", _("Guadeloupe")
    MARTINIQUE = "972", _("Martinique")
    GUYANE = "973", _("Guyane")
    REUNION = "974", _("La Réunion")
    MAYOTTE = "976", _("Mayotte")


class SchoolZone(models.TextChoices):
    """The school holidays a sphere follows: a zone of the national calendar, or a
    calendar ops imported for the sphere (``import_school_calendar``)."""

    NONE = "", _("Aucune (pas de vacances scolaires)")
    A = "A", _("Zone A")
    B = "B", _("Zone B")
    C = "C", _("Zone C")
    IMPORTED = "imported", _("Calendrier importé (Corse, outre-mer, autre académie)")


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("« %(value)s » n'est pas un fuseau horaire connu (ex. : Europe/Paris)."),
            params={"value": value},
        )


class Sphere(models.Model):
    """An organisation's space: a school, a university, a company."""

    name = models.CharField(pgettext_lazy("name of a thing", "nom"), max_length=200)
    slug = models.SlugField(_("identifiant court"), max_length=80, unique=True)
    timezone = models.CharField(
        _("fuseau horaire"),
        max_length=64,
        default=DEFAULT_TIMEZONE,
        validators=[validate_timezone],
    )
    administrators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="administered_spheres",
        blank=True,
        verbose_name=_("administrateurs"),
    )
    # The school calendar (SPEC §6 « Calendrier scolaire »): recurring sends may skip or
    # move the days it closes.
    holiday_subdivision = models.CharField(
        _("jours fériés"),
        max_length=8,
        choices=HolidaySubdivision.choices,
        default=HolidaySubdivision.METROPOLE,
        blank=True,
    )
    school_zone = models.CharField(
        _("vacances scolaires"),
        max_length=8,
        choices=SchoolZone.choices,
        default=SchoolZone.NONE,
        blank=True,
    )
    # At most one reminder per learner per day across the sphere's reminders.
    one_reminder_per_day = models.BooleanField(
        _("au plus une relance par utilisateur et par jour"), default=True
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("sphère")
        verbose_name_plural = _("sphères")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Group(models.Model):
    """A named population inside one sphere (« classe 3e A », « promotion 2017-2018 »)."""

    sphere = models.ForeignKey(
        Sphere,
        on_delete=models.CASCADE,
        related_name="groups",
        verbose_name=_("sphère"),
    )
    name = models.CharField(pgettext_lazy("name of a thing", "nom"), max_length=200)

    class Meta:
        verbose_name = _("groupe")
        verbose_name_plural = _("groupes")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["sphere", "name"], name="group_unique_name_per_sphere"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Learner(models.Model):
    """A learner (« utilisateur »): belongs to exactly one sphere, receives the messages."""

    sphere = models.ForeignKey(
        Sphere,
        on_delete=models.CASCADE,
        related_name="learners",
        verbose_name=_("sphère"),
    )
    identifiant = models.CharField(_("identifiant"), max_length=150)
    first_name = models.CharField(_("prénom"), max_length=150, blank=True)
    last_name = models.CharField(_("nom"), max_length=150, blank=True)
    email = models.EmailField(_("adresse électronique"), blank=True)
    level = models.PositiveSmallIntegerField(
        _("niveau (%)"), default=0, validators=[MaxValueValidator(100)]
    )
    is_active = models.BooleanField(_("actif"), default=True)
    # Reminders are optional messages (RFC 8058 one-click unsubscribe, SPEC §6): set
    # when the learner unsubscribed from them; announcements and evaluation notices
    # still reach them. Cleared only by an administrator, at the learner's request.
    unsubscribed_from_reminders_at = models.DateTimeField(
        _("désinscrit des relances le"), null=True, blank=True, editable=False
    )
    reminders_resubscribed_at = models.DateTimeField(
        _("réinscrit aux relances le"), null=True, blank=True, editable=False
    )
    reminders_resubscribed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("réinscrit aux relances par"),
    )
    groups = models.ManyToManyField(
        Group,
        through="Membership",
        related_name="learners",
        blank=True,
        verbose_name=_("groupes"),
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("apprenant")
        verbose_name_plural = _("apprenants")
        ordering = ["last_name", "first_name", "identifiant"]
        constraints = [
            models.UniqueConstraint(
                fields=["sphere", "identifiant"],
                name="learner_unique_identifiant_per_sphere",
            ),
            models.CheckConstraint(
                condition=models.Q(level__gte=0, level__lte=100),
                name="learner_level_0_100",
            ),
        ]
        indexes = [
            models.Index(fields=["sphere", "last_name", "first_name"]),
            models.Index(fields=["sphere", "email"]),
            # Support searches every sphere at once in the Django admin by the start of
            # an identifiant, a name or an address, in any case: four more indexes,
            # PostgreSQL only, installed by migration ``learner_support_search``.
        ]

    def __str__(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return f"{full} ({self.identifiant})" if full else self.identifiant


class SchoolHoliday(models.Model):
    """A school holiday period of a sphere's imported calendar (``school_zone`` =
    imported): loaded by ``import_school_calendar`` for academies the national data
    lacks. Both days are included."""

    sphere = models.ForeignKey(
        Sphere,
        on_delete=models.CASCADE,
        related_name="school_holidays",
        verbose_name=_("sphère"),
    )
    name = models.CharField(pgettext_lazy("name of a thing", "nom"), max_length=200)
    first_day = models.DateField(_("premier jour"))
    last_day = models.DateField(_("dernier jour"))

    class Meta:
        verbose_name = _("vacances scolaires")
        verbose_name_plural = _("vacances scolaires")
        ordering = ["sphere", "first_day"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(last_day__gte=models.F("first_day")),
                name="school_holiday_last_after_first",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.first_day} – {self.last_day})"


class Membership(models.Model):
    """A learner in a group. A database trigger refuses a group of another sphere."""

    learner = models.ForeignKey(
        Learner, on_delete=models.CASCADE, related_name="memberships"
    )
    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, related_name="memberships"
    )

    class Meta:
        verbose_name = _("appartenance à un groupe")
        verbose_name_plural = _("appartenances aux groupes")
        ordering = ["group", "learner"]
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "group"], name="membership_unique"
            ),
        ]
        indexes = [models.Index(fields=["group", "learner"])]

    def __str__(self) -> str:
        return f"{self.learner} ∈ {self.group}"


class DailyActivity(models.Model):
    """Minutes a learner spent training on one day (one row per learner and day)."""

    learner = models.ForeignKey(
        Learner,
        on_delete=models.CASCADE,
        related_name="activity",
        verbose_name=_("apprenant"),
        # The unique constraint and the index below both start with the learner:
        # they serve the lookups by learner. A third index would only slow the
        # activity import, which writes every index of every row.
        db_index=False,
    )
    date = models.DateField(_("date"))
    minutes = models.PositiveIntegerField(_("minutes"))

    class Meta:
        verbose_name = _("activité quotidienne")
        verbose_name_plural = _("activités quotidiennes")
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "date"], name="activity_one_row_per_day"
            ),
            models.CheckConstraint(
                condition=models.Q(minutes__gte=0), name="activity_minutes_gte_0"
            ),
        ]
        indexes = [
            # The minutes of a learner over the last days (a reminder's audience), read
            # from the index alone.
            models.Index(
                fields=["learner", "date"],
                include=["minutes"],
                name="activity_learner_date_minutes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.learner.identifiant} {self.date}: {self.minutes} min"


class Evaluation(models.Model):
    """An exam scheduled in a sphere; each assigned group has its own time window."""

    sphere = models.ForeignKey(
        Sphere,
        on_delete=models.CASCADE,
        related_name="evaluations",
        verbose_name=_("sphère"),
    )
    name = models.CharField(pgettext_lazy("name of a thing", "nom"), max_length=200)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("évaluation")
        verbose_name_plural = _("évaluations")
        ordering = ["-created_at", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["sphere", "name"], name="evaluation_unique_name_per_sphere"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EvaluationWindow(models.Model):
    """The window of one evaluation for one group. A trigger refuses a group of another sphere."""

    evaluation = models.ForeignKey(
        Evaluation,
        on_delete=models.CASCADE,
        related_name="windows",
        verbose_name=_("évaluation"),
    )
    group = models.ForeignKey(
        Group,
        on_delete=models.CASCADE,
        related_name="evaluation_windows",
        verbose_name=_("groupe"),
    )
    starts_at = models.DateTimeField(_("début"))
    ends_at = models.DateTimeField(_("fin"))

    class Meta:
        verbose_name = _("créneau d'évaluation")
        verbose_name_plural = _("créneaux d'évaluation")
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "group"], name="window_one_per_group"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="window_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.evaluation} — {self.group}"


class UndeliverableAddress(models.Model):
    """An address of a sphere that the mail server refused for good (« 550 user
    unknown ») or that an ESP reported as bounced or complained about.

    Later sends skip the learners of the sphere who have this address, until their
    address changes (the mark is on the address, not on the learner) or an
    administrator clears the mark. Addresses are stored normalised and lower-cased.
    """

    class Source(models.TextChoices):
        SMTP = "smtp", _("refus du serveur de messagerie")
        BOUNCE = "bounce", _("rebond signalé par le prestataire d'envoi")
        COMPLAINT = "complaint", _("plainte du destinataire")

    sphere = models.ForeignKey(
        Sphere,
        on_delete=models.CASCADE,
        related_name="undeliverable_addresses",
        verbose_name=_("sphère"),
    )
    email = models.CharField(_("adresse"), max_length=254)
    source = models.CharField(_("origine"), max_length=10, choices=Source.choices)
    reason = models.TextField(_("motif"), blank=True)
    marked_at = models.DateTimeField(_("marquée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("adresse en échec permanent")
        verbose_name_plural = _("adresses en échec permanent")
        ordering = ["-marked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sphere", "email"], name="undeliverable_once_per_sphere"
            ),
        ]

    def __str__(self) -> str:
        return self.email


class LearnerErasure(models.Model):
    """The audit of one erasure (RGPD): who erased a learner of which sphere, when, and
    how many rows went. Nothing about the learner: that is what was erased."""

    class Via(models.TextChoices):
        PAGE = "page", _("page de l'utilisateur")
        COMMAND = "command", _("commande d'exploitation")

    sphere = models.ForeignKey(
        Sphere,
        on_delete=models.CASCADE,
        related_name="erasures",
        verbose_name=_("sphère"),
    )
    erased_at = models.DateTimeField(_("effacé le"), auto_now_add=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("par"),
    )
    via = models.CharField(_("depuis"), max_length=10, choices=Via.choices)
    # Rows deleted or anonymised, by model label (« communications.Delivery »: 12).
    counts = models.JSONField(_("lignes traitées"), default=dict, blank=True)

    class Meta:
        verbose_name = _("effacement d'un utilisateur")
        verbose_name_plural = _("effacements d'utilisateurs")
        ordering = ["-erased_at", "-id"]

    def __str__(self) -> str:
        return f"{self.sphere} — {self.erased_at:%Y-%m-%d %H:%M}"
