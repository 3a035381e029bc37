import datetime as dt

import factory
from django.utils import timezone

from spheres.models import (
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


class SphereFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sphere

    name = factory.Sequence(lambda n: f"Lycée Voltaire {n}")
    slug = factory.Sequence(lambda n: f"lycee-voltaire-{n}")
    timezone = "Europe/Paris"


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    sphere = factory.SubFactory(SphereFactory)
    name = factory.Sequence(lambda n: f"Classe {n}")


class LearnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Learner
        skip_postgeneration_save = True

    sphere = factory.SubFactory(SphereFactory)
    identifiant = factory.Sequence(lambda n: f"eleve{n}")
    first_name = factory.Faker("first_name", locale="fr_FR")
    last_name = factory.Faker("last_name", locale="fr_FR")
    email = factory.LazyAttribute(lambda o: f"{o.identifiant}@eleves.example")
    level = 50

    @factory.post_generation
    def groups(obj, create, extracted, **kwargs):  # noqa: N805
        if create and extracted:
            Membership.objects.bulk_create(
                Membership(learner=obj, group=g) for g in extracted
            )


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    learner = factory.SubFactory(LearnerFactory)
    group = factory.SubFactory(
        GroupFactory, sphere=factory.SelfAttribute("..learner.sphere")
    )


class DailyActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DailyActivity

    learner = factory.SubFactory(LearnerFactory)
    date = factory.LazyFunction(lambda: timezone.localdate())
    minutes = 10


class EvaluationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Evaluation

    sphere = factory.SubFactory(SphereFactory)
    name = factory.Sequence(lambda n: f"Évaluation {n}")


class EvaluationWindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvaluationWindow

    evaluation = factory.SubFactory(EvaluationFactory)
    group = factory.SubFactory(
        GroupFactory, sphere=factory.SelfAttribute("..evaluation.sphere")
    )
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + dt.timedelta(hours=2))


class UndeliverableAddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UndeliverableAddress

    sphere = factory.SubFactory(SphereFactory)
    email = factory.Sequence(lambda n: f"parti{n}@eleves.example")
    source = UndeliverableAddress.Source.SMTP
    reason = "550 5.1.1 User unknown"


class SchoolHolidayFactory(factory.django.DjangoModelFactory):
    """A period of an imported calendar; its sphere follows it."""

    class Meta:
        model = SchoolHoliday

    sphere = factory.SubFactory(SphereFactory, school_zone=SchoolZone.IMPORTED)
    name = factory.Sequence(lambda n: f"Vacances {n}")
    first_day = factory.Sequence(
        lambda n: dt.date(2026, 10, 17) + dt.timedelta(weeks=4 * n)
    )
    last_day = factory.LazyAttribute(lambda o: o.first_day + dt.timedelta(days=15))


def bulk_learners(sphere: Sphere, count: int, *, prefix: str) -> list[Learner]:
    """``count`` learners of ``sphere`` with an address each, in one statement."""
    return Learner.objects.bulk_create(
        Learner(
            sphere=sphere,
            identifiant=f"{prefix}{n:04d}",
            first_name="Élève",
            last_name=f"Numéro {n}",
            email=f"{prefix}{n:04d}@eleves.example",
            level=10,
        )
        for n in range(count)
    )
