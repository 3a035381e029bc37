import datetime as dt

import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from communications.models import Communication, Delivery, Send
from spheres.tests.factories import LearnerFactory, SphereFactory


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


class SendFactory(factory.django.DjangoModelFactory):
    """A send of a communication, with the copy of its texts made at dispatch."""

    class Meta:
        model = Send

    communication = factory.SubFactory(CommunicationFactory)
    scheduled_for = factory.Sequence(
        lambda n: timezone.now() - dt.timedelta(days=1, minutes=n)
    )
    subject = factory.SelfAttribute("communication.subject")
    message = factory.SelfAttribute("communication.message")
    reply_to = factory.SelfAttribute("communication.reply_to")


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A failed message to a learner of the send's sphere."""

    class Meta:
        model = Delivery

    send = factory.SubFactory(SendFactory)
    learner = factory.SubFactory(
        LearnerFactory, sphere=factory.SelfAttribute("..send.communication.sphere")
    )
    identifiant = factory.SelfAttribute("learner.identifiant")
    email = factory.SelfAttribute("learner.email")
    first_name = factory.SelfAttribute("learner.first_name")
    last_name = factory.SelfAttribute("learner.last_name")
    status = Delivery.Status.FAILED
    error = "550 5.1.1 User unknown"
    attempts = 1
