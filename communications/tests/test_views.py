import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from communications.models import Communication, Delivery, Send
from communications.tests.factories import CommunicationFactory
from spheres.tests.factories import GroupFactory, LearnerFactory

pytestmark = pytest.mark.django_db


def _urls(sphere, communication):
    slug, pk = sphere.slug, communication.pk
    send = Send.objects.create(
        communication=communication, scheduled_for=timezone.now()
    )
    send_kwargs = {"slug": slug, "pk": pk, "send_id": send.pk}
    return [
        ("get", reverse("communications:send_detail", kwargs=send_kwargs)),
        ("post", reverse("communications:send_retry", kwargs=send_kwargs)),
        ("get", reverse("communications:list", kwargs={"slug": slug})),
        ("get", reverse("communications:choose_kind", kwargs={"slug": slug})),
        ("get", reverse("communications:help", kwargs={"slug": slug})),
        (
            "get",
            reverse("communications:create", kwargs={"slug": slug, "kind": "reminder"}),
        ),
        (
            "post",
            reverse(
                "communications:audience", kwargs={"slug": slug, "kind": "reminder"}
            ),
        ),
        ("get", reverse("communications:detail", kwargs={"slug": slug, "pk": pk})),
        ("get", reverse("communications:edit", kwargs={"slug": slug, "pk": pk})),
        ("get", reverse("communications:duplicate", kwargs={"slug": slug, "pk": pk})),
        ("get", reverse("communications:deactivate", kwargs={"slug": slug, "pk": pk})),
        ("get", reverse("communications:preview", kwargs={"slug": slug, "pk": pk})),
        ("post", reverse("communications:send_test", kwargs={"slug": slug, "pk": pk})),
    ]


def _form(sphere, **overrides):
    data = {
        "name": "Relance hebdomadaire",
        "reply_to": "prof@ecole.example",
        "max_minutes": "15",
        "minutes_days": "7",
        "max_level": "75",
        "subject": "{prenom}, on reprend ?",
        "message": "Bonjour {prenom} {nom}",
        "frequency": "weekly",
        "weekdays": ["0"],
        "start_date": timezone.localdate(timezone=sphere.tzinfo).isoformat(),
        "send_time": "08:00",
    }
    data.update(overrides)
    return data


def test_every_url_serves_its_administrator(admin_client, sphere):
    communication = CommunicationFactory(sphere=sphere)
    LearnerFactory(sphere=sphere)
    for method, url in _urls(sphere, communication):
        response = getattr(admin_client, method)(url)
        assert response.status_code in (200, 302), url


def test_every_url_is_404_for_another_sphere_administrator(outsider_client, sphere):
    communication = CommunicationFactory(sphere=sphere)
    for method, url in _urls(sphere, communication):
        assert getattr(outsider_client, method)(url).status_code == 404, url


def test_every_url_redirects_anonymous_users_to_login(client, sphere):
    communication = CommunicationFactory(sphere=sphere)
    for method, url in _urls(sphere, communication):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_a_communication_of_another_sphere_is_404_even_with_own_sphere_slug(
    admin_client, sphere
):
    foreign = CommunicationFactory()
    url = reverse(
        "communications:detail", kwargs={"slug": sphere.slug, "pk": foreign.pk}
    )
    assert admin_client.get(url).status_code == 404


def test_create_reminder_to_two_groups_weekly(admin_client, sphere, admin_user):
    # given
    a, b = GroupFactory.create_batch(2, sphere=sphere)
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    # when
    response = admin_client.post(url, _form(sphere, groups=[a.pk, b.pk]))
    # then
    communication = Communication.objects.get()
    assert response.status_code == 302
    assert set(communication.groups.all()) == {a, b}
    assert communication.created_by == admin_user
    assert (
        communication.max_minutes,
        communication.minutes_days,
        communication.max_level,
    ) == (
        15,
        7,
        75,
    )
    page = admin_client.get(
        reverse("communications:list", kwargs={"slug": sphere.slug})
    )
    assert "Prochain envoi" in page.content.decode()


def test_unknown_placeholder_is_refused_and_what_was_typed_is_kept(
    admin_client, sphere
):
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    typed = "Bonjour {prenon}, texte soigneusement rédigé"
    response = admin_client.post(url, _form(sphere, message=typed))
    body = response.content.decode()
    assert response.status_code == 200
    assert "{prenon}" in body and "Champ inconnu" in body
    assert "texte soigneusement rédigé" in body
    assert not Communication.objects.exists()


def test_another_sphere_group_id_is_a_form_error(admin_client, sphere):
    GroupFactory(sphere=sphere)
    foreign = GroupFactory()
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    response = admin_client.post(url, _form(sphere, groups=[foreign.pk]))
    assert response.status_code == 200
    assert response.context["form"].errors["groups"]
    assert not Communication.objects.exists()


def test_duplicate_prefills_a_copy_without_the_password(admin_client, sphere):
    original = CommunicationFactory(
        sphere=sphere,
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        message="{mot_de_passe}",
        password_token="x",
    )
    url = reverse(
        "communications:duplicate", kwargs={"slug": sphere.slug, "pk": original.pk}
    )
    page = admin_client.get(url, follow=True)
    form = page.context["form"]
    assert form.initial["name"] == f"Copie de {original.name}"
    assert 'name="password"' in page.content.decode()
    assert 'value="x"' not in page.content.decode()


def test_deactivated_communication_opens_read_only_and_a_crafted_post_changes_nothing(
    admin_client, sphere
):
    # given
    communication = CommunicationFactory(sphere=sphere)
    admin_client.post(
        reverse(
            "communications:deactivate",
            kwargs={"slug": sphere.slug, "pk": communication.pk},
        )
    )
    url = reverse(
        "communications:edit", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    # when
    page = admin_client.get(url)
    admin_client.post(url, _form(sphere, name="Ressuscitée", state="active"))
    # then
    assert "lecture seule" in page.content.decode()
    assert "disabled" in page.content.decode()
    communication.refresh_from_db()
    assert communication.state == Communication.State.DEACTIVATED
    assert communication.name != "Ressuscitée"


def test_list_shows_state_as_word_and_class_and_escapes_names(admin_client, sphere):
    CommunicationFactory(sphere=sphere, name="<script>alert(1)</script>")
    gone = CommunicationFactory(sphere=sphere, name="Ancienne")
    admin_client.post(
        reverse(
            "communications:deactivate", kwargs={"slug": sphere.slug, "pk": gone.pk}
        )
    )
    body = admin_client.get(
        reverse("communications:list", kwargs={"slug": sphere.slug})
    ).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "communication--deactivated" in body and "Désactivée" in body
    assert "communication--active" in body and "Active" in body


def test_list_of_500_communications_runs_a_fixed_number_of_queries(
    admin_client, sphere, django_assert_max_num_queries
):
    groups = GroupFactory.create_batch(3, sphere=sphere)
    CommunicationFactory.create_batch(500, sphere=sphere, groups=groups)
    url = reverse("communications:list", kwargs={"slug": sphere.slug})
    with django_assert_max_num_queries(8):
        response = admin_client.get(url)
    assert response.content.decode().count("communication__name") == 500


def test_preview_renders_the_chosen_learner_message_escaped(admin_client, sphere):
    learner = LearnerFactory(sphere=sphere, first_name="<b>Zoé</b>", identifiant="zoe")
    communication = CommunicationFactory(
        sphere=sphere, message="Bonjour {prenom}, identifiant {identifiant}"
    )
    url = reverse(
        "communications:preview", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    body = admin_client.get(url, {"learner": learner.pk}).content.decode()
    assert "identifiant zoe" in body
    assert "<b>Zoé</b>" not in body


def test_send_test_goes_to_the_administrator(
    admin_client, sphere, admin_user, mailoutbox
):
    learner = LearnerFactory(sphere=sphere)
    communication = CommunicationFactory(sphere=sphere)
    url = reverse(
        "communications:send_test", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    admin_client.post(url, {"learner": learner.pk})
    (message,) = mailoutbox
    assert message.to == [admin_user.email]
    assert message.subject.startswith("[TEST]")


def test_live_audience_counts_the_current_choice(admin_client, sphere):
    group = GroupFactory(sphere=sphere)
    LearnerFactory.create_batch(3, sphere=sphere, groups=[group], level=10)
    LearnerFactory(sphere=sphere)  # no group
    url = reverse(
        "communications:audience", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    body = admin_client.post(
        url, {"groups": [group.pk], "max_level": "75"}
    ).content.decode()
    assert "3 utilisateurs recevraient cette communication aujourd" in body
    assert "1 utilisateur sans groupe" in body


def test_start_date_in_the_past_is_refused(admin_client, sphere):
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    yesterday = timezone.localdate(timezone=sphere.tzinfo) - dt.timedelta(days=1)
    response = admin_client.post(url, _form(sphere, start_date=yesterday.isoformat()))
    assert response.context["form"].errors["start_date"]


def test_history_lists_sends_and_each_learner_outcome(admin_client, sphere):
    communication = CommunicationFactory(sphere=sphere)
    send = Send.objects.create(
        communication=communication, scheduled_for=timezone.now()
    )
    learner = LearnerFactory(sphere=sphere, identifiant="lmartin")
    Delivery.objects.create(
        send=send,
        learner=learner,
        identifiant="lmartin",
        email=learner.email,
        status=Delivery.Status.FAILED,
        error="550 5.1.1 No such user",
    )
    Delivery.objects.create(
        send=send,
        learner=None,
        identifiant="sansmail",
        status=Delivery.Status.SKIPPED,
        reason=Delivery.Reason.NO_EMAIL,
    )
    detail = admin_client.get(
        reverse(
            "communications:detail",
            kwargs={"slug": sphere.slug, "pk": communication.pk},
        )
    ).content.decode()
    assert "Envois" in detail
    page = admin_client.get(
        reverse(
            "communications:send_detail",
            kwargs={"slug": sphere.slug, "pk": communication.pk, "send_id": send.pk},
        )
    ).content.decode()
    assert "lmartin" in page and "550 5.1.1 No such user" in page
    assert (
        "Pas d&#x27;adresse électronique" in page
        or "Pas d'adresse électronique" in page
    )
    assert "Renvoyer les messages en échec" in page


def test_the_send_page_shows_the_message_as_that_send_sent_it(admin_client, sphere):
    # given: a send made, then the communication edited
    from communications.sending.content import send_frozen_content

    communication = CommunicationFactory(
        sphere=sphere, subject="Objet d'origine", message="Texte <d'origine>"
    )
    send = communication.sends.create(
        scheduled_for="2026-12-01T07:00:00Z", **send_frozen_content(communication)
    )
    Communication.objects.filter(pk=communication.pk).update(
        subject="Objet modifié", message="Texte modifié"
    )
    # when
    page = admin_client.get(
        reverse(
            "communications:send_detail",
            kwargs={"slug": sphere.slug, "pk": communication.pk, "send_id": send.pk},
        )
    ).content.decode()
    # then: what went, escaped, not what is there now
    assert "Objet d&#x27;origine" in page
    assert "Texte &lt;d&#x27;origine&gt;" in page
    assert "modifié" not in page


def test_the_history_names_the_changed_fields_in_french(
    admin_client, sphere, admin_user
):
    # given: a communication whose subject, send time and groups were changed
    from communications.models import CommunicationEvent

    communication = CommunicationFactory(sphere=sphere)
    CommunicationEvent.objects.create(
        communication=communication,
        actor=admin_user,
        action=CommunicationEvent.Action.MODIFIED,
        details={"fields": ["subject", "send_time", "groups", "password"]},
    )
    # when
    page = admin_client.get(
        reverse(
            "communications:detail",
            kwargs={"slug": sphere.slug, "pk": communication.pk},
        )
    ).content.decode()
    # then
    assert "objet, heure d&#x27;envoi, groupes, mot de passe" in page
    assert "send_time" not in page


def test_the_help_page_has_the_guide_examples_the_fields_and_the_support_address(
    admin_client, sphere, settings
):
    # given
    settings.SUPPORT_EMAIL = "aide@voltaire.example"
    list_page = admin_client.get(
        reverse("communications:list", kwargs={"slug": sphere.slug})
    ).content.decode()
    help_url = reverse("communications:help", kwargs={"slug": sphere.slug})
    # then: the tab links to it and to the support address
    assert f'href="{help_url}"' in list_page and "Besoin d'aide ?" in list_page
    assert "mailto:aide@voltaire.example" in list_page
    # when
    page = admin_client.get(help_url).content.decode()
    # then: the guide's three examples, every placeholder of each type, the contact
    assert "moins de 15 minutes" in page and "inférieur à 75 %" in page
    assert "n'est pas pré-rempli" in page
    assert "Annonce d'une évaluation" in page
    for name in (
        "{prenom}",
        "{mot_de_passe}",
        "{date_debut_evaluation}",
        "{lien_connexion}",
    ):
        assert f"<code>{name}</code>" in page
    assert "mailto:aide@voltaire.example" in page
