"""The communication form's address field (« Votre adresse électronique »): the
platform's address policy, since it becomes every message's Reply-To."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from communications.forms import CommunicationForm
from communications.models import Communication

pytestmark = pytest.mark.django_db


def _data(sphere, **overrides):
    data = {
        "name": "Relance hebdomadaire",
        "reply_to": "prof@ecole.example",
        "max_minutes": "15",
        "minutes_days": "7",
        "max_level": "75",
        "subject": "{prenom}, on reprend ?",
        "message": "Bonjour {prenom} {nom}",
        "frequency": "weekly",
        "weekdays": ["0"],
        "start_date": (
            timezone.localdate(timezone=sphere.tzinfo) + dt.timedelta(days=1)
        ).isoformat(),
        "send_time": "08:00",
    }
    data.update(overrides)
    return data


def _form(sphere, **overrides) -> CommunicationForm:
    return CommunicationForm(
        _data(sphere, **overrides), sphere=sphere, kind=Communication.Kind.REMINDER
    )


def test_the_reply_to_address_is_cleaned_to_the_policy_form(sphere):
    form = _form(sphere, reply_to=" Prof@École.example ")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["reply_to"] == "Prof@xn--cole-9oa.example"
    assert form.service_data()["reply_to"] == "Prof@xn--cole-9oa.example"


def test_a_reply_to_address_the_builder_cannot_write_is_refused_with_the_reason(
    sphere,
):
    form = _form(sphere, reply_to='"a<b>c"@example.com')
    assert not form.is_valid()
    assert form.errors["reply_to"] == [
        '« "a<b>c"@example.com » : la partie avant « @ » ne peut contenir que des '
        "lettres sans accent, des chiffres, des points et ces signes : "
        "!#$%&'*+/=?^_`{|}~-"
    ]


def test_a_communication_is_saved_with_the_normalised_reply_to(admin_client, sphere):
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    response = admin_client.post(url, _data(sphere, reply_to="prof@exämple.fr"))
    assert response.status_code == 302
    assert Communication.objects.get(sphere=sphere).reply_to == "prof@xn--exmple-cua.fr"
