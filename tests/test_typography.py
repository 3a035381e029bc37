"""French typography in what administrators read: a no-break space before « : » and
inside « », a narrow no-break space before « ; ! ? » — in every page type and in the
French catalogue (the French texts are its msgids), so that « Prochain envoi : » never
breaks before its colon and no new string can slip back to ordinary spaces."""

import html
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import server_error

from communications.models import Communication, Delivery
from communications.sending.content import send_frozen_content
from communications.tests.factories import CommunicationFactory
from communications.unsubscribe import unsubscribe_token
from spheres.models import Learner, UndeliverableAddress
from spheres.tests.factories import (
    DailyActivityFactory,
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
)

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
# An ordinary space (or none) where French wants a no-break one.
SPACE_BEFORE = re.compile(r"\S( )([:;!?])(?=\s|$)")
INSIDE_QUOTES = re.compile(r"« | »")


def faults(text: str) -> list[str]:
    found = [
        text[max(m.start() - 30, 0) : m.end() + 10] for m in SPACE_BEFORE.finditer(text)
    ]
    found += [
        text[max(m.start() - 30, 0) : m.end() + 30]
        for m in INSIDE_QUOTES.finditer(text)
    ]
    return found


def visible_text(response) -> str:
    """The text of a page as a reader gets it: tags out, entities decoded, no-break
    spaces kept (only ASCII white space is folded)."""
    page = response.content.decode()
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"[ \t\r\n]+", " ", html.unescape(page))


@pytest.fixture
def pages(admin_client, sphere, admin_user):
    """Every kind of page of a sphere with some of everything in it."""
    group = GroupFactory(sphere=sphere, name="3e A")
    lea = LearnerFactory(sphere=sphere, groups=[group], level=10, first_name="Léa")
    DailyActivityFactory(learner=lea)
    UndeliverableAddress.objects.create(
        sphere=sphere, email=lea.email, source="smtp", reason="550"
    )
    LearnerFactory(sphere=sphere, email="")
    unsubscribed = LearnerFactory(
        sphere=sphere,
        groups=[group],
        level=10,
        unsubscribed_from_reminders_at=timezone.now(),
    )
    evaluation = EvaluationFactory(sphere=sphere, name="Brevet blanc")
    EvaluationWindowFactory(evaluation=evaluation, group=group)
    reminder = CommunicationFactory(
        sphere=sphere, groups=[group], frequency="weekly", weekdays=3
    )
    send = reminder.sends.create(
        scheduled_for=timezone.now(), **send_frozen_content(reminder)
    )
    Delivery.objects.create(
        send=send, learner=lea, identifiant="x", status="failed", error="550"
    )
    # a learner the sphere's cap left out of another reminder's send
    capped = CommunicationFactory(sphere=sphere, name="Relance du soir")
    capped_send = capped.sends.create(
        scheduled_for=timezone.now(), **send_frozen_content(capped)
    )
    Delivery.objects.create(
        send=capped_send,
        learner=unsubscribed,
        identifiant="y",
        status="skipped",
        reason="already_reminded",
    )
    Delivery.objects.create(
        send=send, learner=unsubscribed, identifiant="y", status="sent"
    )
    deactivated = CommunicationFactory(
        sphere=sphere, state="deactivated", deactivated_at=timezone.now()
    )
    slug = sphere.slug
    urls = [
        reverse("spheres:list"),
        reverse("spheres:learners", kwargs={"slug": slug}),
        reverse("spheres:learner_detail", kwargs={"slug": slug, "learner_id": lea.pk}),
        reverse("spheres:learner_erase", kwargs={"slug": slug, "learner_id": lea.pk}),
        reverse("spheres:groups", kwargs={"slug": slug}),
        reverse("spheres:group_delete", kwargs={"slug": slug, "group_id": group.pk}),
        reverse("spheres:evaluations", kwargs={"slug": slug}),
        reverse("spheres:evaluation_create", kwargs={"slug": slug}),
        reverse("spheres:settings", kwargs={"slug": slug}),
        reverse("communications:list", kwargs={"slug": slug}),
        reverse("communications:choose_kind", kwargs={"slug": slug}),
        reverse("communications:help", kwargs={"slug": slug}),
        reverse("communications:detail", kwargs={"slug": slug, "pk": reminder.pk}),
        reverse("communications:detail", kwargs={"slug": slug, "pk": deactivated.pk}),
        reverse("communications:edit", kwargs={"slug": slug, "pk": reminder.pk}),
        reverse("communications:preview", kwargs={"slug": slug, "pk": reminder.pk}),
        reverse(
            "communications:effectiveness", kwargs={"slug": slug, "pk": reminder.pk}
        ),
        reverse(
            "communications:send_detail",
            kwargs={"slug": slug, "pk": reminder.pk, "send_id": send.pk},
        ),
        reverse(
            "communications:send_detail",
            kwargs={"slug": slug, "pk": capped.pk, "send_id": capped_send.pk},
        ),
        reverse("communications:detail", kwargs={"slug": slug, "pk": capped.pk})
        + f"?pourquoi={unsubscribed.identifiant}",
        reverse(
            "spheres:learner_resubscribe",
            kwargs={"slug": slug, "learner_id": unsubscribed.pk},
        ),
        reverse("communications:unsubscribe", kwargs={"token": "non-valide"}),
    ]
    urls += [
        reverse("communications:create", kwargs={"slug": slug, "kind": kind})
        for kind in Communication.Kind.values
    ]
    responses = {url: admin_client.get(url) for url in urls}
    # a form sent back with errors, and a save waiting for its confirmation
    create = reverse("communications:create", kwargs={"slug": slug, "kind": "reminder"})
    now = timezone.localtime(timezone=sphere.tzinfo)
    form = {
        "name": "Relance",
        "reply_to": "prof@ecole.example",
        "max_minutes": "15",
        "minutes_days": "7",
        "subject": "",
        "message": "Bonjour {prenon}",
        "frequency": "once",
        "groups": [group.pk],
        "start_date": now.date().isoformat(),
        "send_time": "00:00",  # already passed today (or passing): to confirm
    }
    responses["errors"] = admin_client.post(create, form)
    form.update(subject="Bonjour", message="Bonjour {prenom}")
    responses["confirmation"] = admin_client.post(create, form)
    responses["audience"] = admin_client.post(
        reverse("communications:audience", kwargs={"slug": slug, "kind": "reminder"}),
        {"groups": [group.pk], "max_minutes": "15", "minutes_days": "7"},
    )
    # the public unsubscribe page, before and after the button
    token = unsubscribe_token(learner_id=unsubscribed.pk, sphere_id=sphere.pk)
    Learner.objects.filter(pk=unsubscribed.pk).update(
        unsubscribed_from_reminders_at=None
    )
    unsubscribe = reverse("communications:unsubscribe", kwargs={"token": token})
    responses["unsubscribe"] = admin_client.get(unsubscribe)
    responses["unsubscribed"] = admin_client.post(unsubscribe)
    responses["already unsubscribed"] = admin_client.get(unsubscribe)
    return responses


@pytest.mark.django_db
def test_every_page_type_keeps_french_punctuation_with_its_no_break_space(pages):
    assert "Envoyer maintenant" in visible_text(pages["confirmation"])
    assert "Le formulaire contient" in visible_text(pages["errors"])
    found = {
        url: faults(visible_text(response))
        for url, response in pages.items()
        if faults(visible_text(response))
    }
    assert found == {}


def test_the_login_page_too(client, db):
    assert faults(visible_text(client.get(reverse("login")))) == []


def test_the_lockout_and_error_pages_too(client, db):
    # given: a locked-out log-in, an unknown page, a form without its CSRF token
    for _ in range(5):
        locked = client.post(
            reverse("login"), {"username": "x@ecole.example", "password": "faux"}
        )
    missing = client.get("/nulle-part/")
    expired = Client(enforce_csrf_checks=True).post(reverse("login"))

    # then
    assert [locked.status_code, missing.status_code, expired.status_code] == [
        429,
        404,
        403,
    ]
    for response in (locked, missing, expired, server_error(RequestFactory().get("/"))):
        assert faults(visible_text(response)) == []


def test_the_french_texts_of_the_catalogue_have_their_no_break_spaces():
    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "django.po").open("rb") as po_file:
        catalog = read_po(po_file)
    found = []
    for message in catalog:
        texts = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        for text in texts:
            if text and faults(text.replace("\n", " ")):
                found.append(text[:80])
    assert found == []
