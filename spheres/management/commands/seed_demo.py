"""``manage.py seed_demo``: a demo sphere to click through, safe to run twice.

The demo's accounts have a public password: with DEBUG off (a production-like
environment) the command refuses to run unless told ``--i-know-this-is-not-production``.
The support account is staff in the « Support » group, never a superuser.

Everything is looked up before it is created (sphere by slug, groups and the evaluation
by name, learners by identifiant, activity by learner and day, the past sends of « Relance
du lundi » by their time), so a second run on the same day writes nothing. Values are
deterministic: no randomness without a fixed seed.
"""

import datetime as dt
import random
import unicodedata
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group as AuthGroup
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from spheres.models import (
    DailyActivity,
    Evaluation,
    Group,
    Learner,
    Membership,
    SchoolZone,
    Sphere,
)
from spheres.services import (
    evaluation_create,
    group_create,
    sphere_admin_add,
    sphere_create,
)

DEMO_SLUG = "demo"
DEMO_NAME = "Collège Voltaire de démonstration"
DEMO_TIMEZONE = "Europe/Paris"
ADMIN_EMAIL = "admin@demo.voltaire.example"
SUPPORT_EMAIL = "support@demo.voltaire.example"
# A fixed, public password: the demo only ever runs on a developer's machine.
DEMO_PASSWORD = "voltaire-demo-2026"  # noqa: S105
# The Django admin group of the support staff; its permissions come from the
# accounts' migrations, not from the demo.
SUPPORT_GROUP = "Support"
LEARNER_EMAIL_DOMAIN = "eleves.demo.voltaire.example"
# Five weeks: the reminder with a history (« Relance du lundi ») has a send on each of
# the last four Mondays, and a week of activity before each.
ACTIVITY_DAYS = 35
HISTORY_REMINDER = "Relance du lundi"
HISTORY_SENDS = 4
EVALUATION_NAME = "Évaluation de fin de trimestre"

GROUP_3A = "3e A"
GROUP_3B = "3e B"
GROUP_PROMO = "Promotion 2026"
GROUPS = (GROUP_3A, GROUP_3B, GROUP_PROMO)

# (prénom, nom, groupes). Two learners are in two groups, three in none.
LEARNERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Léa", "Martin", (GROUP_3A,)),
    ("Hugo", "Bernard", (GROUP_3A,)),
    ("Chloé", "Dubois", (GROUP_3A,)),
    ("Louis", "Thomas", (GROUP_3A,)),
    ("Emma", "Robert", (GROUP_3A,)),
    ("Gabriel", "Richard", (GROUP_3A,)),
    ("Manon", "Petit", (GROUP_3A,)),
    ("Jules", "Durand", (GROUP_3A,)),
    ("Inès", "Leroy", (GROUP_3A,)),
    ("Raphaël", "Moreau", (GROUP_3A,)),
    ("Camille", "Simon", (GROUP_3A,)),
    ("Arthur", "Laurent", (GROUP_3A,)),
    ("Zoé", "Lefèvre", (GROUP_3A, GROUP_PROMO)),
    ("Nathan", "Michel", (GROUP_3A, GROUP_PROMO)),
    ("Jade", "Garcia", (GROUP_3B,)),
    ("Adam", "David", (GROUP_3B,)),
    ("Louise", "Bertrand", (GROUP_3B,)),
    ("Lucas", "Roux", (GROUP_3B,)),
    ("Alice", "Vincent", (GROUP_3B,)),
    ("Léo", "Fournier", (GROUP_3B,)),
    ("Lina", "Morel", (GROUP_3B,)),
    ("Paul", "Girard", (GROUP_3B,)),
    ("Rose", "André", (GROUP_3B,)),
    ("Maël", "Mercier", (GROUP_3B,)),
    ("Anna", "Blanc", (GROUP_3B,)),
    ("Tom", "Guérin", (GROUP_3B,)),
    ("Ambre", "Boyer", (GROUP_3B,)),
    ("Noé", "Garnier", (GROUP_3B,)),
    ("Juliette", "Chevalier", (GROUP_PROMO,)),
    ("Sacha", "François", (GROUP_PROMO,)),
    ("Mila", "Legrand", (GROUP_PROMO,)),
    ("Ethan", "Gauthier", (GROUP_PROMO,)),
    ("Clara", "Perrin", (GROUP_PROMO,)),
    ("Théo", "Robin", (GROUP_PROMO,)),
    ("Margaux", "Clément", (GROUP_PROMO,)),
    ("Victor", "Morin", (GROUP_PROMO,)),
    ("Agathe", "Nicolas", (GROUP_PROMO,)),
    ("Timothée", "Henry", ()),
    ("Éloïse", "Roussel", ()),
    ("Baptiste", "Mathieu", ()),
)
# This learner has no e-mail address: sends skip them and say why.
LEARNER_WITHOUT_EMAIL = "rose.andre"

# Evaluation window per group: (days after the first run, start hour, hours long).
EVALUATION_WINDOWS = {
    GROUP_3A: (10, 9, 2),
    GROUP_3B: (10, 14, 2),
    GROUP_PROMO: (12, 10, 3),
}


def identifiant_for(first_name: str, last_name: str) -> str:
    """« Éloïse Roussel » -> ``eloise.roussel``."""
    text = f"{first_name}.{last_name}".lower()
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )


def _level(index: int) -> int:
    """Levels spread over 20–100 %, in an order unrelated to the groups."""
    return 20 + (index * 37) % 81


def _minutes(identifiant: str, index: int, day: dt.date) -> int:
    """Deterministic minutes for one learner and day; 0 means no activity row.

    Four profiles so that reminders have an audience: never started, stopped a week ago,
    a few minutes here and there, regular.
    """
    rng = random.Random(f"{identifiant}:{day.isoformat()}")  # noqa: S311 - demo data
    profile = index % 5
    days_ago = (timezone.localdate() - day).days
    if profile == 0 and index % 10 == 0:
        return 0  # never started
    if profile == 0:
        return rng.choice((0, 10, 20, 35)) if days_ago > 7 else 0  # stopped a week ago
    if profile == 1:
        return rng.choice((0, 0, 0, 2, 5, 8))  # a few minutes here and there
    if profile == 2:
        return rng.choice((0, 5, 10, 15, 20))
    return rng.choice((0, 15, 25, 30, 45, 60, 90))  # regular


def seed_communications(*, sphere: Sphere, admin: User) -> int:
    """Create the demo communications of ``sphere``; returns how many were created.

    Looked up by name first, so a second run creates nothing. The announcement is due at
    once: with ``make run``, beat sends it within a minute and its history fills in.
    """
    from communications.models import Communication
    from communications.rendering import DEFAULT_TEXTS
    from communications.services import communication_create, communication_deactivate

    existing = set(
        Communication.objects.filter(sphere=sphere).values_list("name", flat=True)
    )
    groups = list(Group.objects.filter(sphere=sphere, name__in=GROUPS).order_by("name"))
    classes = [g for g in groups if g.name in (GROUP_3A, GROUP_3B)]
    evaluation = Evaluation.objects.filter(sphere=sphere, name=EVALUATION_NAME).first()
    now = timezone.localtime(timezone=sphere.tzinfo)
    today, this_minute = now.date(), now.time().replace(second=0, microsecond=0)

    def texts(kind: str) -> dict[str, str]:
        subject, message = DEFAULT_TEXTS[kind]
        return {"subject": str(subject), "message": str(message)}

    # name, type, groups, schedule and criteria, password
    plans: list[tuple[str, str, list[Group], dict[str, Any], str]] = [
        (
            "Annonce de rentrée",
            Communication.Kind.ANNOUNCEMENT,
            groups,
            {"frequency": "once", "start_date": today, "send_time": this_minute},
            "Voltaire2026",
        ),
        (
            "Relance hebdomadaire des 3e",
            Communication.Kind.REMINDER,
            classes,
            {
                "max_minutes": 15,
                "minutes_days": 7,
                "max_level": 75,
                "frequency": "weekly",
                "weekdays": 0b0001001,  # Monday and Thursday
                "start_date": today,
                "send_time": dt.time(8, 0),
                "holiday_policy": Communication.HolidayPolicy.SKIP,
            },
            "",
        ),
        (
            "Annonce de l'évaluation de fin de trimestre",
            Communication.Kind.EVALUATION,
            groups,
            {
                "evaluation": evaluation,
                "frequency": "once",
                "start_date": today + dt.timedelta(days=1),
                "send_time": dt.time(9, 0),
            },
            "",
        ),
        (
            "Ancienne relance (désactivée)",
            Communication.Kind.REMINDER,
            groups,
            {
                "max_level": 50,
                "frequency": "daily",
                "start_date": today,
                "send_time": dt.time(18, 0),
            },
            "",
        ),
    ]
    created = 0
    for name, kind, targets, fields, password in plans:
        if name in existing or (
            kind == Communication.Kind.EVALUATION and not evaluation
        ):
            continue
        communication = communication_create(
            sphere=sphere,
            actor=admin,
            kind=kind,
            data={"name": name, "reply_to": ADMIN_EMAIL, **texts(kind), **fields},
            groups=targets,
            password=password,
            # The demo's announcement is meant to leave at once, when `make run` starts.
            confirmed=True,
        )
        if name.endswith("(désactivée)"):
            communication_deactivate(communication=communication, actor=admin)
        created += 1
    return created


def seed_reminder_history(*, sphere: Sphere, admin: User) -> int:
    """« Relance du lundi », a weekly reminder to every group at 17 h 00 with a send on
    each of the last ``HISTORY_SENDS`` Mondays before today, so that « Les relances
    ont-elles fonctionné ? » has figures; returns how many sends were created.

    Each past send reminds the learners its audience had that day (the rules, on the
    activity as it then was): a message sent to each, skipped without an address. Some
    of them train on the following days (demo data: a modest upturn after each send,
    deterministic). Sends are looked up by their time, so a second run on the same day
    creates nothing; a run a week later adds the new Monday's send.
    """
    from communications.models import Communication, Delivery, Send
    from communications.rendering import DEFAULT_TEXTS
    from communications.selectors import AudienceSpec, audience
    from communications.sending.content import send_frozen_content
    from communications.services import communication_create

    today = timezone.localdate(timezone=sphere.tzinfo)
    send_time = dt.time(17, 0)
    reminder = Communication.objects.filter(
        sphere=sphere, name=HISTORY_REMINDER
    ).first()
    if reminder is None:
        subject, message = DEFAULT_TEXTS[Communication.Kind.REMINDER]
        reminder = communication_create(
            sphere=sphere,
            actor=admin,
            kind=Communication.Kind.REMINDER,
            data={
                "name": HISTORY_REMINDER,
                "reply_to": ADMIN_EMAIL,
                "subject": str(subject),
                "message": str(message),
                "max_minutes": 30,
                "minutes_days": 7,
                "frequency": "weekly",
                "weekdays": 0b0000001,  # Monday
                "start_date": today - dt.timedelta(days=ACTIVITY_DAYS),
                "send_time": send_time,
                "holiday_policy": Communication.HolidayPolicy.SKIP,
                "weekly_digest": True,
            },
            groups=list(Group.objects.filter(sphere=sphere, name__in=GROUPS)),
        )
    last_monday = today - dt.timedelta(days=today.weekday() or 7)
    mondays = [last_monday - dt.timedelta(weeks=n) for n in range(HISTORY_SENDS)]
    spec = AudienceSpec.of(reminder)
    created = 0
    for monday in sorted(mondays):
        scheduled = dt.datetime.combine(monday, send_time, tzinfo=sphere.tzinfo)
        send, new = Send.objects.get_or_create(
            communication=reminder,
            purpose=Send.Purpose.SCHEDULED,
            scheduled_for=scheduled,
            defaults={
                "status": Send.Status.DONE,
                "finished_at": scheduled + dt.timedelta(minutes=2),
                **send_frozen_content(reminder),
            },
        )
        if not new:
            continue
        created += 1
        reminded = list(audience(spec, today=monday).order_by("identifiant"))
        Delivery.objects.bulk_create(
            Delivery(
                send=send,
                learner=learner,
                email=learner.email,
                identifiant=learner.identifiant,
                first_name=learner.first_name,
                last_name=learner.last_name,
                status=Delivery.Status.SENT
                if learner.email
                else Delivery.Status.SKIPPED,
                reason="" if learner.email else Delivery.Reason.NO_EMAIL,
                attempts=1 if learner.email else 0,
                sent_at=scheduled if learner.email else None,
            )
            for learner in reminded
        )
        _seed_upturn([learner for learner in reminded if learner.email], monday, today)
    latest = max(
        dt.datetime.combine(m, send_time, tzinfo=sphere.tzinfo) for m in mondays
    )
    if created and (reminder.last_sent_at is None or reminder.last_sent_at < latest):
        Communication.objects.filter(pk=reminder.pk).update(last_sent_at=latest)
    return created


def _seed_upturn(learners: list[Learner], monday: dt.date, today: dt.date) -> None:
    """Some reminded learners train on one of the three days after the send (Tuesday
    to Thursday), where they had no activity: a row missing on a day is added."""
    wanted: dict[tuple[int, dt.date], int] = {}
    for learner in learners:
        rng = random.Random(f"{learner.identifiant}:{monday.isoformat()}:relance")  # noqa: S311 - demo data
        if rng.random() < 0.5:
            day = monday + dt.timedelta(days=rng.randint(1, 3))
            if day < today:
                wanted[(learner.pk, day)] = rng.choice((10, 15, 20, 30))
    existing = set(
        DailyActivity.objects.filter(
            learner__in=learners, date__gt=monday, date__lt=today
        ).values_list("learner_id", "date")
    )
    DailyActivity.objects.bulk_create(
        (
            DailyActivity(learner_id=pk, date=day, minutes=minutes)
            for (pk, day), minutes in wanted.items()
            if (pk, day) not in existing
        ),
        ignore_conflicts=True,
    )


class Command(BaseCommand):
    help = (
        "Crée une sphère de démonstration (groupes, apprenants, activité, évaluation, "
        "administrateur). Sans effet si elle existe déjà : peut être relancée."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--i-know-this-is-not-production",
            action="store_true",
            dest="not_production",
            help=(
                "Lancer la démonstration même avec DEBUG désactivé (une préproduction, "
                "par exemple) : ses comptes ont un mot de passe public."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["not_production"]:
            raise CommandError(
                "seed_demo refuse de s'exécuter avec DEBUG désactivé : ses comptes ont "
                "un mot de passe public ; si ce n'est pas la production, relancez avec "
                "--i-know-this-is-not-production."
            )
        with transaction.atomic():
            counts = self._seed()
        created = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        summary = f"{created} créés" if created else "déjà en place, rien de modifié"
        self.stdout.write(self.style.SUCCESS(f"Démonstration prête ({summary})."))
        self.stdout.write(
            f"  Administrateur de la sphère : {ADMIN_EMAIL} / {DEMO_PASSWORD}"
        )
        self.stdout.write(
            f"  Support (admin Django)      : {SUPPORT_EMAIL} / {DEMO_PASSWORD}"
        )

    def _seed(self) -> dict[str, int]:
        counts = dict.fromkeys(
            (
                "sphère",
                "groupes",
                "apprenants",
                "appartenances",
                "jours d'activité",
                "évaluation",
                "communications",
                "envois passés",
            ),
            0,
        )
        sphere = Sphere.objects.filter(slug=DEMO_SLUG).first()
        if sphere is None:
            sphere = sphere_create(
                name=DEMO_NAME, slug=DEMO_SLUG, timezone=DEMO_TIMEZONE
            )
            # A school of the Paris academy: zone C, so that the reminders' upcoming
            # sends show the school holidays they skip.
            sphere.school_zone = SchoolZone.C
            sphere.save(update_fields=["school_zone"])
            counts["sphère"] = 1

        groups = {
            g.name: g for g in Group.objects.filter(sphere=sphere, name__in=GROUPS)
        }
        for name in GROUPS:
            if name not in groups:
                groups[name] = group_create(sphere=sphere, name=name)
                counts["groupes"] += 1

        learners = self._seed_learners(sphere, counts)
        self._seed_memberships(learners, groups, counts)
        self._seed_activity(learners, counts)
        counts["évaluation"] = self._seed_evaluation(sphere, groups)

        admin = self._seed_admin(sphere)
        self._seed_support()
        counts["communications"] = seed_communications(sphere=sphere, admin=admin)
        counts["envois passés"] = seed_reminder_history(sphere=sphere, admin=admin)
        return counts

    def _seed_learners(
        self, sphere: Sphere, counts: dict[str, int]
    ) -> dict[str, Learner]:
        existing = set(
            Learner.objects.filter(sphere=sphere).values_list("identifiant", flat=True)
        )
        new = []
        for index, (first_name, last_name, _groups) in enumerate(LEARNERS):
            identifiant = identifiant_for(first_name, last_name)
            if identifiant in existing:
                continue
            email = (
                ""
                if identifiant == LEARNER_WITHOUT_EMAIL
                else f"{identifiant}@{LEARNER_EMAIL_DOMAIN}"
            )
            new.append(
                Learner(
                    sphere=sphere,
                    identifiant=identifiant,
                    first_name=first_name,
                    last_name=last_name,
                    email=email,
                    level=_level(index),
                )
            )
        Learner.objects.bulk_create(new, ignore_conflicts=True)
        counts["apprenants"] = len(new)
        identifiants = [identifiant_for(first, last) for first, last, _ in LEARNERS]
        return {
            learner.identifiant: learner
            for learner in Learner.objects.filter(
                sphere=sphere, identifiant__in=identifiants
            )
        }

    def _seed_memberships(
        self,
        learners: dict[str, Learner],
        groups: dict[str, Group],
        counts: dict[str, int],
    ) -> None:
        existing = set(
            Membership.objects.filter(group__in=groups.values()).values_list(
                "learner_id", "group_id"
            )
        )
        new = []
        for first_name, last_name, group_names in LEARNERS:
            learner = learners[identifiant_for(first_name, last_name)]
            for name in group_names:
                if (learner.pk, groups[name].pk) not in existing:
                    new.append(Membership(learner=learner, group=groups[name]))
        Membership.objects.bulk_create(new, ignore_conflicts=True)
        counts["appartenances"] = len(new)

    def _seed_activity(
        self, learners: dict[str, Learner], counts: dict[str, int]
    ) -> None:
        today = timezone.localdate()
        days = [today - dt.timedelta(days=n) for n in range(ACTIVITY_DAYS, 0, -1)]
        existing = set(
            DailyActivity.objects.filter(
                learner__in=learners.values(), date__gte=days[0]
            ).values_list("learner_id", "date")
        )
        new = []
        for index, (first_name, last_name, _groups) in enumerate(LEARNERS):
            learner = learners[identifiant_for(first_name, last_name)]
            for day in days:
                minutes = _minutes(learner.identifiant, index, day)
                if minutes and (learner.pk, day) not in existing:
                    new.append(
                        DailyActivity(learner=learner, date=day, minutes=minutes)
                    )
        DailyActivity.objects.bulk_create(new, ignore_conflicts=True)
        counts["jours d'activité"] = len(new)

    def _seed_evaluation(self, sphere: Sphere, groups: dict[str, Group]) -> int:
        if sphere.evaluations.filter(name=EVALUATION_NAME).exists():
            return 0
        today = timezone.localdate(timezone=sphere.tzinfo)
        windows = []
        for name, (in_days, hour, hours) in EVALUATION_WINDOWS.items():
            starts_at = dt.datetime.combine(
                today + dt.timedelta(days=in_days), dt.time(hour), tzinfo=sphere.tzinfo
            )
            windows.append(
                (groups[name], starts_at, starts_at + dt.timedelta(hours=hours))
            )
        evaluation_create(sphere=sphere, name=EVALUATION_NAME, windows=windows)
        return 1

    def _seed_admin(self, sphere: Sphere) -> User:
        user = User.objects.filter(email__iexact=ADMIN_EMAIL).first()
        # Only reset the password when it no longer is the printed one: a second run
        # then leaves the row untouched.
        password = (
            None if user and user.check_password(DEMO_PASSWORD) else DEMO_PASSWORD
        )
        admin = sphere_admin_add(sphere=sphere, email=ADMIN_EMAIL, password=password)
        if not admin.full_name:
            admin.full_name = "Administratrice de démonstration"
            admin.save(update_fields=["full_name"])
        return admin

    def _seed_support(self) -> None:
        """A staff account in the « Support » group: what support staff can do in the
        Django admin comes from that group's permissions, never from a superuser
        flag (an earlier demo's superuser is demoted)."""
        group, _created = AuthGroup.objects.get_or_create(name=SUPPORT_GROUP)
        user = User.objects.filter(email__iexact=SUPPORT_EMAIL).first()
        if user is None:
            user = User.objects.create_user(
                email=SUPPORT_EMAIL,
                password=DEMO_PASSWORD,
                full_name="Support Voltaire",
                is_staff=True,
            )
        elif not (
            user.is_staff
            and not user.is_superuser
            and user.check_password(DEMO_PASSWORD)
        ):
            user.is_staff, user.is_superuser = True, False
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["is_staff", "is_superuser", "password"])
        user.groups.add(group)
