import datetime as dt

import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from communications.models import Communication
from spheres.tests.factories import SphereFactory


class CommunicationFactory(factory.django.DjangoModelFactory):
    """An active one-off reminder due next week; pass ``groups=[...]`` to target groups."""

    class Meta:
        model = Communication
        skip_postgeneration_save = True

    sphere = factory.SubFactory(SphereFactory)
    name = factory.Sequence(lambda n: f"Relance {n}")
    kind = Communication.Kind.REMINDER
    reply_to = "professeur@ecole.example"
    subject = "Bonjour {prenom}"
    message = "Bonjour {prenom} {nom}, votre identifiant : {identifiant}."
    max_minutes = 15
    minutes_days = 7
    max_level = 75
    frequency = Communication.Frequency.ONCE
    start_date = factory.LazyFunction(
        lambda: timezone.localdate() + dt.timedelta(days=7)
    )
    send_time = dt.time(8, 0)
    created_by = factory.SubFactory(UserFactory)
    updated_by = factory.SelfAttribute("created_by")

    @factory.post_generation
    def groups(obj, create, extracted, **kwargs):  # noqa: N805
        if create and extracted:
            obj.groups.set(extracted)
