"""« Changement d'horaire »: after an evaluation's window moved, the learners who
received its announcement are offered a notice with their new window, sent through the
engine once confirmed, with an invitation that updates their calendar's event."""

import contextlib
import datetime as dt
import html
import threading
from email.message import EmailMessage

import icalendar
import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from communications.models import Communication, CommunicationEvent, Delivery, Send
from communications.sending import schedule_change
from communications.tests.factories import CommunicationFactory
from spheres import services as sphere_services
from spheres.models import Evaluation, EvaluationWindow, Learner, UndeliverableAddress
from spheres.tests.factories import (
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
)
from tests.support import require_postgresql

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
# Paris in winter: UTC+1. Group A: Monday 7 December, 9 h 00 – 11 h 00.
START_A = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
START_B = dt.datetime(2026, 12, 8, 8, 0, tzinfo=dt.UTC)
# Group A moved to Wednesday 9 December, 14 h 30 – 16 h 00.
MOVED_A = dt.datetime(2026, 12, 9, 13, 30, tzinfo=dt.UTC)
AFTER = NOW + dt.timedelta(hours=1)


class Setting:
    """An evaluation for groups A and B, its announcement sent to Zoé (A) and Hugo (B)."""

    def __init__(self, sphere, engine) -> None:  # noqa: ANN001
        self.sphere, self.engine = sphere, engine
        self.a = GroupFactory(sphere=sphere, name="3e A")
        self.b = GroupFactory(sphere=sphere, name="3e B")
        self.evaluation = EvaluationFactory(sphere=sphere, name="Brevet blanc")
        self.window_a = EvaluationWindowFactory(
            evaluation=self.evaluation,
            group=self.a,
            starts_at=START_A,
            ends_at=START_A + dt.timedelta(hours=2),
        )
        EvaluationWindowFactory(
            evaluation=self.evaluation,
            group=self.b,
            starts_at=START_B,
            ends_at=START_B + dt.timedelta(hours=2),
        )
        self.zoe = LearnerFactory(
            sphere=sphere, groups=[self.a], first_name="Zoé", last_name="Martin"
        )
        self.hugo = LearnerFactory(
            sphere=sphere, groups=[self.b], first_name="Hugo", last_name="Bernard"
        )
        self.communication = CommunicationFactory(
            sphere=sphere,
            groups=[self.a, self.b],
            kind=Communication.Kind.EVALUATION,
            evaluation=self.evaluation,
            name="Annonce du brevet blanc",
            max_minutes=None,
            minutes_days=None,
            max_level=None,
            subject="Évaluation de {prenom}",
            message="Le {date_debut_evaluation} à {heure_debut_evaluation}.",
        )

    def announce(self) -> None:
        Communication.objects.filter(pk=self.communication.pk).update(
            next_send_at=timezone.now() - dt.timedelta(minutes=1)
        )
        self.engine.dispatch()
        self.engine.work()

    def move_a(self, starts_at: dt.datetime = MOVED_A) -> None:
        """The administrator moves group A's window, as the evaluation form does."""
        evaluation = Evaluation.objects.get(pk=self.evaluation.pk)
        windows = [
            (w.group, w.starts_at, w.ends_at)
            for w in evaluation.windows.select_related("group")
        ]
        windows = [
            (g, starts_at, starts_at + dt.timedelta(minutes=90))
            if g == self.a
            else (g, s, e)
            for g, s, e in windows
        ]
        sphere_services.evaluation_update(
            evaluation=evaluation, name=evaluation.name, windows=windows
        )

    def concerned(self) -> list[schedule_change.Concerned]:
        communication = Communication.objects.get(pk=self.communication.pk)
        return schedule_change.schedule_change_concerned(communication)

    def url(self) -> str:
        return reverse(
            "communications:schedule_change",
            kwargs={"slug": self.sphere.slug, "pk": self.communication.pk},
        )


@pytest.fixture
def setting(sphere, engine, smtp_server) -> Setting:
    with time_machine.travel(NOW, tick=False):
        return Setting(sphere, engine)


# --- Who is concerned -------------------------------------------------------------------


def test_a_learner_whose_window_moved_is_concerned_with_the_new_window(setting):
    with time_machine.travel(NOW, tick=False):
        # given: the announcement went out; nobody is concerned yet
        setting.announce()
        assert setting.concerned() == []
        # when: group A's window moves
        setting.move_a()
        # then: Zoé (A) is concerned, told the old window and getting the new one;
        # Hugo (B), whose window did not change, is not
        (zoe,) = setting.concerned()
    assert zoe.learner_id == setting.zoe.pk
    assert zoe.told == (START_A, START_A + dt.timedelta(hours=2))
    assert zoe.window == (MOVED_A, MOVED_A + dt.timedelta(minutes=90))
    assert zoe.email == setting.zoe.email


def test_a_learner_who_did_not_receive_the_announcement_is_not_concerned(setting):
    with time_machine.travel(NOW, tick=False):
        # given: Léa joins group A after the announcement; Zoé's message failed
        setting.announce()
        LearnerFactory(sphere=setting.sphere, groups=[setting.a], first_name="Léa")
        Delivery.objects.filter(learner=setting.zoe).update(
            status=Delivery.Status.FAILED
        )
        # when
        setting.move_a()
        # then: neither was told a window: nothing to correct
        assert setting.concerned() == []


def test_a_window_moved_into_the_past_is_not_concerned(setting):
    with time_machine.travel(NOW, tick=False):
        setting.announce()
        # when: group A's window now ended yesterday
        setting.move_a(NOW - dt.timedelta(days=1))
        # then
        assert setting.concerned() == []


def test_a_learner_deactivated_or_without_usable_address_is_not_concerned(setting):
    with time_machine.travel(NOW, tick=False):
        # given: two more learners of group A received the announcement
        lea = LearnerFactory(sphere=setting.sphere, groups=[setting.a])
        tom = LearnerFactory(sphere=setting.sphere, groups=[setting.a])
        setting.announce()
        # when: Zoé is deactivated, Léa's address fails, Tom's is removed
        Learner.objects.filter(pk=setting.zoe.pk).update(is_active=False)
        UndeliverableAddress.objects.create(
            sphere=setting.sphere, email=lea.email.lower(), source="smtp", reason="550"
        )
        Learner.objects.filter(pk=tom.pk).update(email="")
        setting.move_a()
        # then
        assert setting.concerned() == []


def test_a_deactivated_announcement_offers_nothing(setting):
    with time_machine.travel(NOW, tick=False):
        setting.announce()
        Communication.objects.filter(pk=setting.communication.pk).update(
            state=Communication.State.DEACTIVATED, deactivated_at=timezone.now()
        )
        setting.move_a()
        assert setting.concerned() == []
        assert (
            schedule_change.schedule_change_offers(evaluation_id=setting.evaluation.pk)
            == []
        )


# --- The offer --------------------------------------------------------------------------


def _edit(admin_client, setting, starts_at: dt.datetime):
    local = starts_at.astimezone(setting.sphere.tzinfo)
    ends = local + dt.timedelta(hours=2)
    data = {"name": "Brevet blanc"}
    for group, start, end in (
        (setting.a, local, ends),
        (
            setting.b,
            START_B.astimezone(setting.sphere.tzinfo),
            (START_B + dt.timedelta(hours=2)).astimezone(setting.sphere.tzinfo),
        ),
    ):
        data |= {
            f"groupe_{group.pk}_debut_date": f"{start:%Y-%m-%d}",
            f"groupe_{group.pk}_debut_heure": f"{start:%H:%M}",
            f"groupe_{group.pk}_fin_date": f"{end:%Y-%m-%d}",
            f"groupe_{group.pk}_fin_heure": f"{end:%H:%M}",
        }
    return admin_client.post(
        reverse(
            "spheres:evaluation_edit",
            kwargs={
                "slug": setting.sphere.slug,
                "evaluation_id": setting.evaluation.pk,
            },
        ),
        data,
        follow=True,
    )


def test_saving_a_moved_window_offers_the_notice_with_a_link(admin_client, setting):
    with time_machine.travel(NOW, tick=False):
        setting.announce()
        # when
        response = _edit(admin_client, setting, MOVED_A)
    # then: told, with a link to the confirmation; nothing sent
    page = html.unescape(response.content.decode())
    assert EvaluationWindow.objects.get(group=setting.a).starts_at == MOVED_A
    assert (
        "L'horaire a changé pour 1 utilisateur qui a reçu "
        "l'annonce «\u00a0Annonce du brevet blanc\u00a0»." in page
    )
    assert f'<a href="{setting.url()}">Prévenir du changement d\'horaire</a>' in page
    assert not Send.objects.filter(purpose=Send.Purpose.SCHEDULE_CHANGE).exists()


def test_saving_unchanged_windows_offers_nothing(admin_client, setting):
    with time_machine.travel(NOW, tick=False):
        setting.announce()
        response = _edit(admin_client, setting, START_A)
    assert "Prévenir du changement" not in html.unescape(response.content.decode())


def test_the_detail_page_shows_the_banner(admin_client, setting):
    with time_machine.travel(NOW, tick=False):
        setting.announce()
        setting.move_a()
        # when
        response = admin_client.get(
            reverse(
                "communications:detail",
                kwargs={"slug": setting.sphere.slug, "pk": setting.communication.pk},
            )
        )
    # then
    page = html.unescape(response.content.decode())
    assert (
        "L'horaire de l'évaluation a changé pour 1 utilisateur depuis l'annonce."
        in page
    )
    assert f'href="{setting.url()}"' in page


# --- The confirmation page --------------------------------------------------------------


def test_the_confirmation_page_states_the_count_and_previews_a_message(
    admin_client, setting
):
    with time_machine.travel(NOW, tick=False):
        # given: group A has a second learner; both windows of A moved
        LearnerFactory(
            sphere=setting.sphere, groups=[setting.a], first_name="Léa", last_name="Roy"
        )
        setting.announce()
        setting.move_a()
        sends = Send.objects.count()
        # when
        response = admin_client.get(setting.url())
    # then: the count, the learners with both windows, one message with the new one
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "a changé pour 2 utilisateurs depuis l'annonce" in page
    assert "Envoyer le changement d'horaire à 2 utilisateurs" in page
    assert "Zoé Martin" in page
    # announced: Monday 7 December, 9 h 00; now: Wednesday 9 December, 14 h 30
    assert "lundi 7\u00a0décembre 2026, de 9\u00a0h\u00a000 à 11\u00a0h\u00a000" in page
    assert (
        "mercredi 9\u00a0décembre 2026, de 14\u00a0h\u00a030 à 16\u00a0h\u00a000"
        in page
    )
    message = response.context["message"]
    assert message.subject == "Changement d'horaire\u00a0: Brevet blanc"
    assert "mercredi 9\u00a0décembre 2026 à 14\u00a0h\u00a030" in message.text
    assert "16\u00a0h\u00a000" in message.text
    # GET sends nothing
    assert Send.objects.count() == sends
    assert setting.engine.queued == []


def test_the_confirmation_page_says_when_nobody_is_concerned(admin_client, setting):
    with time_machine.travel(NOW, tick=False):
        setting.announce()
        response = admin_client.get(setting.url())
        posted = admin_client.post(setting.url())
    assert response.status_code == 200
    assert "Aucun utilisateur n" in html.unescape(response.content.decode())
    assert posted.status_code == 302
    assert not Send.objects.filter(purpose=Send.Purpose.SCHEDULE_CHANGE).exists()


def test_the_confirmation_page_is_404_for_another_spheres_administrator(
    outsider_client, setting
):
    with time_machine.travel(NOW, tick=False):
        setting.announce()
        setting.move_a()
        get = outsider_client.get(setting.url())
        post = outsider_client.post(setting.url())
    assert get.status_code == 404
    assert post.status_code == 404
    assert not Send.objects.filter(purpose=Send.Purpose.SCHEDULE_CHANGE).exists()


# --- The send ---------------------------------------------------------------------------


def _event(message: EmailMessage) -> icalendar.Component:
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    calendar = icalendar.Calendar.from_ical(part.get_content())
    (event,) = calendar.walk("VEVENT")
    return event


def test_the_notice_goes_out_once_with_the_new_window_and_an_updated_invitation(
    admin_client, admin_user, setting, smtp_server, django_capture_on_commit_callbacks
):
    with time_machine.travel(NOW, tick=False):
        lea = LearnerFactory(
            sphere=setting.sphere, groups=[setting.a], first_name="Léa", last_name="Roy"
        )
        setting.announce()
    announced = {r.recipients[0]: r.message for r in smtp_server.received}
    smtp_server.received.clear()
    with time_machine.travel(AFTER, tick=False):
        setting.move_a()
        # when: confirmed twice (a double click)
        with django_capture_on_commit_callbacks(execute=True):
            first = admin_client.post(setting.url())
            second = admin_client.post(setting.url())
        setting.engine.work()
    # then: one send, one mail to each learner of A, none to Hugo
    (send,) = Send.objects.filter(purpose=Send.Purpose.SCHEDULE_CHANGE)
    assert first.status_code == 302
    assert first["Location"] == reverse(
        "communications:send_detail",
        kwargs={
            "slug": setting.sphere.slug,
            "pk": setting.communication.pk,
            "send_id": send.pk,
        },
    )
    assert second.status_code == 302
    received = {r.recipients[0]: r.message for r in smtp_server.received}
    assert sorted(received) == sorted([setting.zoe.email, lea.email])
    assert len(smtp_server.received) == 2
    for learner in (setting.zoe, lea):
        message = received[learner.email]
        assert message["Subject"] == "Changement d'horaire\u00a0: Brevet blanc"
        plain = message.get_body(("plain",))
        assert plain is not None
        text = plain.get_content()
        assert f"Bonjour {learner.first_name} {learner.last_name}" in text
        assert "mercredi 9\u00a0décembre 2026 à 14\u00a0h\u00a030" in text
        # the same event as the announcement's, a later version of it, moved
        before, after = _event(announced[learner.email]), _event(message)
        assert str(after["UID"]) == str(before["UID"])
        assert after.decoded("SEQUENCE") > before.decoded("SEQUENCE", 0)
        assert after.decoded("DTSTART") == MOVED_A
        assert after.decoded("DTEND") == MOVED_A + dt.timedelta(minutes=90)
        assert before.decoded("DTSTART") == START_A
    # recorded like any send: one delivery each, sent, with the new window
    send.refresh_from_db()
    assert send.status == Send.Status.DONE
    assert send.subject == "Changement d'horaire\u00a0: Brevet blanc"
    assert send.reply_to == setting.communication.reply_to
    rows = list(send.deliveries.values_list("status", "window_starts_at"))
    assert rows == [(Delivery.Status.SENT, MOVED_A)] * 2
    # the audit trail says who sent it, once
    (event,) = CommunicationEvent.objects.filter(
        action=CommunicationEvent.Action.RESCHEDULED
    )
    assert event.communication_id == setting.communication.pk
    assert event.actor == admin_user
    assert event.details == {"send": send.pk, "count": 2}
    # nobody is left to tell
    with time_machine.travel(AFTER, tick=False):
        assert setting.concerned() == []


def test_a_second_move_sends_a_later_version_of_the_event(
    admin_client, setting, smtp_server, django_capture_on_commit_callbacks
):
    with time_machine.travel(NOW, tick=False):
        setting.announce()
    smtp_server.received.clear()
    sequences = []
    for hours, starts_at in ((1, MOVED_A), (2, MOVED_A + dt.timedelta(days=1))):
        with time_machine.travel(NOW + dt.timedelta(hours=hours), tick=False):
            setting.move_a(starts_at)
            with django_capture_on_commit_callbacks(execute=True):
                admin_client.post(setting.url())
            setting.engine.work()
        (received,) = smtp_server.received
        smtp_server.received.clear()
        event = _event(received.message)
        assert event.decoded("DTSTART") == starts_at
        sequences.append(event.decoded("SEQUENCE"))
    assert sequences == [1, 2]


def test_the_history_lists_the_notice_and_its_page_works(
    admin_client, setting, django_capture_on_commit_callbacks
):
    with time_machine.travel(NOW, tick=False):
        setting.announce()
    with time_machine.travel(AFTER, tick=False):
        setting.move_a()
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(setting.url())
        setting.engine.work()
        send = Send.objects.get(purpose=Send.Purpose.SCHEDULE_CHANGE)
        # when
        detail = admin_client.get(
            reverse(
                "communications:detail",
                kwargs={"slug": setting.sphere.slug, "pk": setting.communication.pk},
            )
        )
        send_page = admin_client.get(
            reverse(
                "communications:send_detail",
                kwargs={
                    "slug": setting.sphere.slug,
                    "pk": setting.communication.pk,
                    "send_id": send.pk,
                },
            )
        )
    # then: labelled in the history, no banner any more
    page = html.unescape(detail.content.decode())
    assert "— Changement d'horaire" in page
    assert "depuis l'annonce" not in page
    # the send's page: its nature, its counts, its message
    assert send_page.status_code == 200
    assert send_page.context["counts"]["sent"] == 1
    text = html.unescape(send_page.content.decode())
    assert "Changement d'horaire" in text
    assert setting.zoe.identifiant in text


def test_a_later_announcement_keeps_the_version_of_the_event(
    admin_client, setting, smtp_server, django_capture_on_commit_callbacks
):
    # given: the announcement, then a notice of group A's new window
    with time_machine.travel(NOW, tick=False):
        setting.announce()
    with time_machine.travel(AFTER, tick=False):
        setting.move_a()
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(setting.url())
        setting.engine.work()
    notice = next(
        r.message
        for r in smtp_server.received
        if r.message["Subject"].startswith("Changement")
    )
    smtp_server.received.clear()
    # when: the announcement goes out again (a recurring announcement's next send)
    with time_machine.travel(AFTER + dt.timedelta(days=1), tick=False):
        Communication.objects.filter(pk=setting.communication.pk).update(
            state=Communication.State.ACTIVE
        )
        setting.announce()
    # then: Zoé's invitation is the notice's event, not an older version of it
    received = {r.recipients[0]: r.message for r in smtp_server.received}
    again = _event(received[setting.zoe.email])
    assert str(again["UID"]) == str(_event(notice)["UID"])
    assert again.decoded("SEQUENCE") == _event(notice).decoded("SEQUENCE") == 1
    assert again.decoded("DTSTART") == MOVED_A


def test_braces_in_the_evaluations_name_are_text_not_placeholders(setting):
    # given: an evaluation whose long name has braces
    evaluation = Evaluation.objects.get(pk=setting.evaluation.pk)
    evaluation.name = "Groupe {A}1 " + "}" * 180
    evaluation.save()
    communication = Communication.objects.select_related("evaluation", "sphere").get(
        pk=setting.communication.pk
    )
    # when
    content = schedule_change.schedule_change_content(communication)
    concerned = schedule_change.Concerned(
        setting.zoe.pk,
        setting.zoe.identifiant,
        "Zoé",
        "Martin",
        setting.zoe.email,
        schedule_change.Window(START_A, START_A + dt.timedelta(hours=2)),
        schedule_change.Window(MOVED_A, MOVED_A + dt.timedelta(hours=2)),
    )
    _prepared, message = schedule_change.schedule_change_preview(
        communication, concerned
    )
    # then: the subject fits its column and reads the name as it is, cut
    assert len(content["subject"]) <= 250
    assert message.subject.startswith("Changement d'horaire\u00a0: Groupe {A}1 }}}")
    assert "«\u00a0Groupe {A}1 " + "}" * 180 + "\u00a0»" in message.text


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_at_the_same_moment_send_one_notice(setting, monkeypatch):
    # given: PostgreSQL, where the two confirmations truly run at once
    require_postgresql()
    # and: each waits, once it has found who is concerned, for the other to find them
    # too (for a second at most: a confirmation held by the other's lock never comes)
    found = threading.Barrier(2, timeout=1)
    concerned = schedule_change.schedule_change_concerned

    def concerned_then_wait(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        result = concerned(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            found.wait()
        return result

    monkeypatch.setattr(
        schedule_change, "schedule_change_concerned", concerned_then_wait
    )
    with time_machine.travel(NOW, tick=False):
        setting.announce()
        setting.move_a()
        start = threading.Barrier(2)
        results: list[Send | None] = []

        def confirm() -> None:
            try:
                start.wait()
                results.append(
                    schedule_change.schedule_change_send(
                        communication=setting.communication, actor=None
                    )
                )
            finally:
                connection.close()

        # when: two requests confirm the same notice at the same instant
        threads = [threading.Thread(target=confirm) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # then: one send, one message for Zoé, and the other request sent nothing
    assert len(results) == 2
    assert sum(result is not None for result in results) == 1
    (send,) = Send.objects.filter(purpose=Send.Purpose.SCHEDULE_CHANGE)
    assert list(send.deliveries.values_list("learner", flat=True)) == [setting.zoe.pk]


def test_the_concerned_learners_are_read_without_jit_compilation(setting):
    """Over a large sphere the query's estimate passes PostgreSQL's JIT threshold:
    compiling it took 100 ms of an evaluation page's 110, for a query that reads
    almost nothing. It runs with JIT off, and finds the same learners."""
    require_postgresql()
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        if sql.lstrip().startswith("SELECT") and '"spheres_learner"' in sql:
            raw = context["connection"].connection
            seen.append(raw.execute("SHOW jit").fetchone()[0])
        return execute(sql, params, many, context)

    with time_machine.travel(NOW, tick=False):
        setting.announce()
        setting.move_a()
        with connection.cursor() as cursor:
            # The test runs in one transaction, where the dispatch's own « SET LOCAL
            # jit = off » still holds: back to what a new transaction has.
            cursor.execute("SET LOCAL jit = on")
        with connection.execute_wrapper(wrapper):
            (zoe,) = setting.concerned()
    assert zoe.learner_id == setting.zoe.pk
    assert seen == ["off"]
