"""« Pourquoi ? » says « reçoit » exactly for the learners a send delivers to: checked
on generated spheres of a few hundred learners against what the dispatcher writes."""

import datetime as dt
import random

import pytest
from django.utils import timezone

from communications.models import Communication, Delivery, Send
from communications.selectors import AudienceSpec, audience_explain, audience_summary
from communications.tests.factories import CommunicationFactory
from spheres.models import DailyActivity, Learner, Membership, UndeliverableAddress
from spheres.tests.factories import (
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    SphereFactory,
)

pytestmark = pytest.mark.django_db


def _generated_sphere(rng: random.Random, count: int = 300):
    sphere = SphereFactory()
    groups = [GroupFactory(sphere=sphere, name=f"Classe {n}") for n in range(4)]
    learners = Learner.objects.bulk_create(
        Learner(
            sphere=sphere,
            identifiant=f"e{n:04d}",
            first_name="Élève",
            last_name=f"N{n}",
            email=rng.choice(
                [f"e{n}@ecole.example"] * 8 + ["", '"a<b>c"@ecole.example']
            ),
            level=rng.randint(0, 100),
            is_active=rng.random() > 0.05,
            unsubscribed_from_reminders_at=(
                timezone.now() - dt.timedelta(days=3) if rng.random() < 0.1 else None
            ),
        )
        for n in range(count)
    )
    Membership.objects.bulk_create(
        Membership(learner=learner, group=group)
        for learner in learners
        for group in rng.sample(groups, rng.choice([0, 1, 1, 2]))
    )
    today = timezone.localdate(timezone=sphere.tzinfo)
    DailyActivity.objects.bulk_create(
        DailyActivity(
            learner=learner,
            date=today - dt.timedelta(days=day),
            minutes=rng.choice([0, 0, 3, 5, 10, 15]),
        )
        for learner in learners
        for day in rng.sample(range(12), rng.randint(0, 6))
    )
    for learner in rng.sample(learners, 10):
        if learner.email and "<" not in learner.email:
            UndeliverableAddress.objects.get_or_create(
                sphere=sphere, email=learner.email.lower(), defaults={"source": "smtp"}
            )
    return sphere, groups, learners


def _check(engine, communication: Communication, learners: list) -> int:
    """Dispatch it now; compare each learner's « Pourquoi ? » with the send."""
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    communication.refresh_from_db()
    spec = AudienceSpec.of(communication)
    # explained before the send, as the administrator would read it
    explained = {
        learner.pk: audience_explain(spec, learner, communication=communication)
        for learner in learners
    }
    summary = audience_summary(spec)
    engine.dispatch()
    send = Send.objects.filter(communication=communication).latest("pk")
    picked = set(
        send.deliveries.filter(status=Delivery.Status.PENDING).values_list(
            "learner_id", flat=True
        )
    )
    receives = {pk for pk, explanation in explained.items() if explanation.receives}
    wrong = {pk: [v.text for v in explained[pk].verdicts] for pk in receives ^ picked}
    assert wrong == {}
    # the live summary counts the unsubscribed the dispatcher leaves out
    assert (
        summary.unsubscribed
        == send.deliveries.filter(reason=Delivery.Reason.UNSUBSCRIBED).count()
    )
    return len(picked)


@pytest.mark.parametrize("seed", [1, 2])
def test_pourquoi_says_receives_exactly_for_whom_the_dispatcher_picks(engine, seed):
    rng = random.Random(seed)
    sphere, groups, learners = _generated_sphere(rng)
    reminder = CommunicationFactory(
        sphere=sphere,
        groups=groups[:2],
        max_minutes=15,
        minutes_days=7,
        max_level=75,
    )
    idle = CommunicationFactory(
        sphere=sphere,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        inactive_days=5,
        min_level=20,
    )
    never = CommunicationFactory(
        sphere=sphere,
        groups=[groups[3]],
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        never_started=True,
    )
    evaluation = EvaluationFactory(sphere=sphere)
    soon = timezone.now() + dt.timedelta(days=3)
    EvaluationWindowFactory(evaluation=evaluation, group=groups[0], starts_at=soon)
    EvaluationWindowFactory(
        evaluation=evaluation,
        group=groups[1],
        starts_at=timezone.now() - dt.timedelta(days=2),
        ends_at=timezone.now() - dt.timedelta(days=1),  # over already
    )
    announcing = CommunicationFactory(
        sphere=sphere,
        kind="evaluation",
        evaluation=evaluation,
        groups=groups[:3],
        max_minutes=None,
        minutes_days=None,
        max_level=None,
    )
    announcement = CommunicationFactory(
        sphere=sphere,
        kind="announcement",
        frequency="daily",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
    )
    picked = [
        _check(engine, communication, learners)
        for communication in (reminder, idle, never, announcing, announcement)
    ]
    # a second send of the announcement: those who received it are now left out
    newcomer = Learner.objects.create(
        sphere=sphere, identifiant="nouveau", email="nouveau@ecole.example"
    )
    Membership.objects.create(learner=newcomer, group=groups[0])
    assert _check(engine, announcement, [*learners, newcomer]) == 1
    assert all(picked), picked  # every case reaches someone…
    assert min(len(learners) - p for p in picked) > 0  # …and leaves someone out


def test_pourquoi_speaks_of_the_learner_own_figures(sphere):
    # given: 18 minutes over the last 7 days, level 80 %, in a group not chosen
    from spheres.tests.factories import DailyActivityFactory, LearnerFactory

    chosen, other = (
        GroupFactory(sphere=sphere, name="3e A"),
        GroupFactory(sphere=sphere, name="3e B"),
    )
    learner = LearnerFactory(sphere=sphere, groups=[other], level=80)
    DailyActivityFactory(learner=learner, minutes=18)
    reminder = CommunicationFactory(
        sphere=sphere, groups=[chosen], max_minutes=15, minutes_days=7, max_level=75
    )
    # when
    explanation = audience_explain(AudienceSpec.of(reminder), learner)
    # then
    texts = [v.text for v in explanation.verdicts]
    assert not explanation.receives
    assert texts[0] == (
        "Groupes «\u00a03e B\u00a0»\u00a0: aucun n'est parmi les groupes choisis "
        "(«\u00a03e A\u00a0»)."
    )
    assert "18 min sur les 7 derniers jours\u00a0: pas moins de 15." in texts
    assert "Niveau 80 %\u00a0: pas inférieur à 75 %." in texts
    assert f"Adresse\u00a0: {learner.email}." in texts


def test_pourquoi_says_a_learner_unsubscribed_from_reminders_still_gets_the_rest(
    sphere,
):
    # given: a learner in the audience of a reminder, unsubscribed on 3 December
    from spheres.tests.factories import LearnerFactory

    learner = LearnerFactory(
        sphere=sphere,
        level=10,
        unsubscribed_from_reminders_at=dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC),
    )
    reminder = CommunicationFactory(sphere=sphere)
    announcement = CommunicationFactory(
        sphere=sphere,
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
    )
    # when
    about_reminder = audience_explain(AudienceSpec.of(reminder), learner)
    about_announcement = audience_explain(AudienceSpec.of(announcement), learner)
    # then
    assert not about_reminder.receives
    assert about_reminder.verdicts[-1].text == (
        "Désinscrit des relances le jeudi 3\u00a0décembre 2026, à sa demande\u00a0: il "
        "reçoit encore les annonces et les avis d'évaluation."
    )
    assert about_announcement.receives


def _dispatched_today(engine, **kwargs) -> Communication:
    communication = CommunicationFactory(**kwargs)
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    engine.dispatch()
    communication.refresh_from_db()
    return communication


CAPPED = (
    "Déjà relancé aujourd'hui par la relance «\u00a0Relance du matin\u00a0»\u00a0: la "
    "sphère envoie au plus une relance par utilisateur et par jour."
)


def test_pourquoi_names_the_reminder_that_already_reminded_the_learner_today(engine):
    # given: a capped sphere; Léa reached this morning by « Relance du matin »
    from spheres.tests.factories import LearnerFactory

    sphere = SphereFactory(one_reminder_per_day=True)
    lea = LearnerFactory(sphere=sphere, level=10)
    morning = _dispatched_today(engine, sphere=sphere, name="Relance du matin")
    evening = CommunicationFactory(sphere=sphere, name="Relance du soir")
    # when: « Pourquoi ? » about the other reminder, before and after its send
    before = audience_explain(AudienceSpec.of(evening), lea, communication=evening)
    Communication.objects.filter(pk=evening.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    engine.dispatch()
    after = audience_explain(AudienceSpec.of(evening), lea, communication=evening)
    # then: it names the morning's reminder, and the send did leave her out
    assert not before.receives and not after.receives
    assert before.verdicts[-1].text == CAPPED
    assert after.verdicts[-1].text == CAPPED
    assert (
        Delivery.objects.get(send__communication=evening, learner=lea).reason
        == Delivery.Reason.ALREADY_REMINDED
    )
    # the morning's reminder itself is not capped by its own send
    about_morning = audience_explain(
        AudienceSpec.of(morning), lea, communication=morning
    )
    assert CAPPED not in [v.text for v in about_morning.verdicts]


@pytest.mark.parametrize("capped", [True, False])
def test_pourquoi_says_nothing_of_the_cap_when_it_does_not_apply(engine, capped):
    # given: Léa reached today by a reminder; the cap on (then an announcement is
    # asked about) or off (then another reminder)
    from spheres.tests.factories import LearnerFactory

    sphere = SphereFactory(one_reminder_per_day=capped)
    lea = LearnerFactory(sphere=sphere, level=10)
    _dispatched_today(engine, sphere=sphere, name="Relance du matin")
    other = CommunicationFactory(
        sphere=sphere,
        **(
            {
                "kind": "announcement",
                "max_minutes": None,
                "minutes_days": None,
                "max_level": None,
            }
            if capped
            else {}
        ),
    )
    # when
    explanation = audience_explain(AudienceSpec.of(other), lea, communication=other)
    # then
    assert explanation.receives
    assert CAPPED not in [v.text for v in explanation.verdicts]
