import datetime as dt
import html

import pytest
import time_machine
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
        (
            "get",
            reverse("communications:effectiveness", kwargs={"slug": slug, "pk": pk}),
        ),
        ("post", reverse("communications:send_test", kwargs={"slug": slug, "pk": pk})),
    ]


def _form(sphere, **overrides):
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
        # tomorrow: a save sends nothing within ten minutes, whatever the hour
        "start_date": (
            timezone.localdate(timezone=sphere.tzinfo) + dt.timedelta(days=1)
        ).isoformat(),
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


def test_list_names_the_groups_of_each_communication_by_name(admin_client, sphere):
    # given: two communications with groups of their own, chosen out of order
    zebre, alpha, milieu = (
        GroupFactory(sphere=sphere, name=name) for name in ("Zèbre", "Alpha", "Milieu")
    )
    CommunicationFactory(sphere=sphere, name="Première", groups=[zebre, alpha])
    CommunicationFactory(sphere=sphere, name="Seconde", groups=[milieu])

    # when
    body = admin_client.get(
        reverse("communications:list", kwargs={"slug": sphere.slug})
    ).content.decode()

    # then: each row has its own groups, by name
    assert "<td>Alpha, Zèbre" in body
    assert "<td>Milieu" in body
    assert "Milieu, " not in body and ", Milieu" not in body


def test_list_of_500_communications_shows_50_per_page_in_a_fixed_number_of_queries(
    admin_client, sphere, django_assert_max_num_queries
):
    groups = GroupFactory.create_batch(3, sphere=sphere)
    CommunicationFactory.create_batch(500, sphere=sphere, groups=groups, name="Relance")
    url = reverse("communications:list", kwargs={"slug": sphere.slug})
    # up to 3 of them renew the session's expiry (once a minute at most)
    with django_assert_max_num_queries(12):
        response = admin_client.get(url, {"q": "relance"})
    body = response.content.decode()
    assert body.count("communication__name") == 50
    assert "Page 1 sur 10" in body
    # the link to the next page keeps the search
    assert 'href="?q=relance&amp;page=2" rel="next"' in body
    last = admin_client.get(url, {"q": "relance", "page": 10}).content.decode()
    assert last.count("communication__name") == 50 and "Page 10 sur 10" in last


def test_preview_renders_the_chosen_learner_message_escaped(admin_client, sphere):
    learner = LearnerFactory(sphere=sphere, first_name="<b>Zoé</b>", identifiant="zoe")
    communication = CommunicationFactory(
        sphere=sphere, message="Bonjour {prenom}, identifiant {identifiant}"
    )
    url = reverse(
        "communications:preview", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    body = admin_client.get(url, {"utilisateur": learner.identifiant}).content.decode()
    assert "identifiant zoe" in body
    assert "<b>Zoé</b>" not in body


def test_the_preview_opens_on_a_learner_who_will_receive_it_and_explains_the_others(
    admin_client, sphere
):
    # given: the first learner by name has no address
    LearnerFactory(sphere=sphere, last_name="Aaron", email="", level=10)
    LearnerFactory(sphere=sphere, last_name="Martin", first_name="Léa", level=10)
    communication = CommunicationFactory(sphere=sphere)
    url = reverse(
        "communications:preview", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    # when / then: by default, Léa, who will receive it
    response = admin_client.get(url)
    assert response.context["learner"].last_name == "Martin"
    assert response.context["explanation"].receives
    # and Aaron, asked for by name: his message, and why he receives nothing
    response = admin_client.get(url, {"utilisateur": "aaron"})
    assert response.context["learner"].last_name == "Aaron"
    assert "Aucune adresse électronique." in response.content.decode()


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
    # the learners without a group are counted once, with the form's page
    assert "sans groupe" not in body
    form = admin_client.get(
        reverse(
            "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
        )
    ).content.decode()
    assert "1 utilisateur sans groupe n'est jamais inclus." in html.unescape(form)


def test_live_audience_counts_learners_unsubscribed_from_reminders(
    admin_client, sphere
):
    # given: two learners, one unsubscribed from reminders
    LearnerFactory(sphere=sphere, level=10)
    LearnerFactory(
        sphere=sphere, level=10, unsubscribed_from_reminders_at=timezone.now()
    )

    def summary(kind: str) -> str:
        url = reverse(
            "communications:audience", kwargs={"slug": sphere.slug, "kind": kind}
        )
        return admin_client.post(url, {"max_level": "75"}).content.decode()

    # when / then: left out of a reminder and said so; an announcement reaches both
    reminder = summary("reminder")
    assert "1 utilisateur recevrait cette communication aujourd" in reminder
    assert (
        "1 utilisateur du public s'est désinscrit des relances\u00a0: il ne recevra "
        "pas celle-ci." in html.unescape(reminder)
    )
    announcement = summary("announcement")
    assert "2 utilisateurs recevraient cette communication aujourd" in announcement
    assert "désinscrit" not in announcement


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
    assert f'href="{help_url}"' in list_page and "Besoin d'aide ?" in list_page
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


def test_the_list_filters_by_state_type_and_name_and_shows_the_last_send_counts(
    admin_client, sphere
):
    # given: an active reminder whose last send has outcomes, a deactivated one, an
    # announcement
    reminder = CommunicationFactory(sphere=sphere, name="Relance de décembre")
    old = reminder.sends.create(scheduled_for="2026-11-01T07:00:00Z")
    last = reminder.sends.create(scheduled_for="2026-11-08T07:00:00Z")
    for status, n in (("sent", 3), ("failed", 1), ("skipped", 2)):
        for i in range(n):
            Delivery.objects.create(
                send=last, identifiant=f"{status}{i}", status=status
            )
    Delivery.objects.create(send=old, identifiant="ancien", status="sent")
    CommunicationFactory(
        sphere=sphere,
        name="Relance arrêtée",
        state=Communication.State.DEACTIVATED,
        deactivated_at=timezone.now(),
    )
    CommunicationFactory(
        sphere=sphere,
        name="Annonce de rentrée",
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
    )
    url = reverse("communications:list", kwargs={"slug": sphere.slug})
    # when / then: everything, with short type labels and the last send's counts
    page = admin_client.get(url).content.decode()
    assert page.count("communication__name") == 3
    assert ">Relance</abbr>" in page and ">Annonce</abbr>" in page
    assert "3 envoyés, 1 en échec, 2 non envoyés" in page
    # by state
    page = admin_client.get(url, {"etat": "deactivated"}).content.decode()
    assert "Relance arrêtée" in page and "Relance de décembre" not in page
    # by type
    page = admin_client.get(url, {"type": "announcement"}).content.decode()
    assert "Annonce de rentrée" in page and "Relance" not in page.split("<tbody>")[1]
    # by words of the name
    page = admin_client.get(url, {"q": "décembre relance"}).content.decode()
    assert page.count("communication__name") == 1 and "Relance de décembre" in page
    page = admin_client.get(url, {"q": "rien de tel"}).content.decode()
    assert "Aucune communication ne correspond à cette recherche." in page


def test_a_deactivated_communication_offers_consulter_and_the_dialog_focuses_cancel(
    admin_client, sphere
):
    active = CommunicationFactory(sphere=sphere)
    deactivated = CommunicationFactory(
        sphere=sphere, state="deactivated", deactivated_at=timezone.now()
    )

    def detail(c):
        url = reverse("communications:detail", kwargs={"slug": sphere.slug, "pk": c.pk})
        return admin_client.get(url).content.decode()

    assert ">Modifier</a>" in detail(active) and ">Consulter</a>" not in detail(active)
    assert "data-closes-dialog autofocus" in detail(active)
    assert ">Consulter</a>" in detail(deactivated)
    assert ">Modifier</a>" not in detail(deactivated)


def test_the_reply_to_address_starts_as_the_administrator_own(
    admin_client, sphere, admin_user
):
    page = admin_client.get(
        reverse(
            "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
        )
    ).content.decode()
    assert f'value="{admin_user.email}"' in page


def test_a_send_whose_time_has_come_is_imminent_never_in_the_past(admin_client, sphere):
    communication = CommunicationFactory(sphere=sphere)
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=2)
    )
    for name, kwargs in (
        ("communications:list", {"slug": sphere.slug}),
        ("communications:detail", {"slug": sphere.slug, "pk": communication.pk}),
    ):
        page = admin_client.get(reverse(name, kwargs=kwargs)).content.decode()
        assert "imminent (dans la minute)" in page, name


def test_pages_show_a_send_in_the_sphere_time_zone_in_the_style_of_the_emails(
    admin_client, sphere
):
    # given: a send at 23:00 UTC on 30 November, 3:00 on 1 December in Réunion
    from communications.sending.content import send_frozen_content

    sphere.timezone = "Indian/Reunion"
    sphere.save(update_fields=["timezone"])
    communication = CommunicationFactory(sphere=sphere)
    send = communication.sends.create(
        scheduled_for=dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC),
        **send_frozen_content(communication),
    )
    # when
    page = admin_client.get(
        reverse(
            "communications:send_detail",
            kwargs={"slug": sphere.slug, "pk": communication.pk, "send_id": send.pk},
        )
    ).content.decode()
    detail = admin_client.get(
        reverse(
            "communications:detail",
            kwargs={"slug": sphere.slug, "pk": communication.pk},
        )
    ).content.decode()
    # then: « 1er », no leading zero, no-break spaces, as in the e-mails
    moment = "mardi 1er\u00a0décembre 2026 à 3\u00a0h\u00a000"
    assert f"Envoi du {moment}" in page
    assert f">{moment}</a>" in detail


def test_every_error_comes_in_one_pass_with_a_summary_linking_to_each_field(
    admin_client, sphere
):
    # given: an empty subject, an unknown placeholder, an end date before the start,
    # and no reminder criterion
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    start = timezone.localdate(timezone=sphere.tzinfo) + dt.timedelta(days=3)
    data = _form(
        sphere,
        subject="",
        message="Bonjour {prenon}",
        start_date=start.isoformat(),
        end_date=(start - dt.timedelta(days=1)).isoformat(),
        max_minutes="",
        minutes_days="",
        max_level="",
    )
    # when
    response = admin_client.post(url, data)
    # then: all four at once, next to their fields and in the summary, nothing saved
    page = response.content.decode()
    assert response.status_code == 200
    assert not Communication.objects.exists()
    form = response.context["form"]
    assert set(form.errors) >= {"subject", "message", "end_date", "__all__"}
    assert "{prenon}" in form.errors["message"][0]
    assert 'class="alert alert--error error-summary" role="alert" tabindex="-1"' in page
    for field in ("subject", "message", "end_date"):
        assert f'<a href="#id_{field}">' in page
    assert "Définissez au moins un critère de relance" in page
    # and what was typed is kept
    assert "Bonjour {prenon}" in page


def test_a_targeted_group_without_a_window_is_a_form_error_naming_it(
    admin_client, sphere
):
    from spheres.tests.factories import EvaluationFactory, EvaluationWindowFactory

    with_window, without = (
        GroupFactory(sphere=sphere, name="3e A"),
        GroupFactory(sphere=sphere, name="3e B"),
    )
    evaluation = EvaluationFactory(sphere=sphere)
    EvaluationWindowFactory(evaluation=evaluation, group=with_window)
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "evaluation"}
    )
    data = _form(
        sphere,
        evaluation=evaluation.pk,
        groups=[with_window.pk, without.pk],
        subject="Évaluation le {date_debut_evaluation}",
        message="Bonjour {prenom}",
    )
    response = admin_client.post(url, data)
    assert not Communication.objects.exists()
    (error,) = response.context["form"].errors["groups"]
    assert "« 3e B » n'a pas de créneau pour cette évaluation" in error


def test_an_evaluation_announcement_starts_with_its_evaluation_groups_ticked(
    admin_client, sphere
):
    from spheres.tests.factories import EvaluationFactory, EvaluationWindowFactory

    a, b, c = (GroupFactory(sphere=sphere, name=n) for n in ("3e A", "3e B", "3e C"))
    evaluation = EvaluationFactory(sphere=sphere)
    for group in (a, c):
        EvaluationWindowFactory(evaluation=evaluation, group=group)
    response = admin_client.get(
        reverse(
            "communications:create", kwargs={"slug": sphere.slug, "kind": "evaluation"}
        )
    )
    assert sorted(response.context["form"]["groups"].value()) == sorted([a.pk, c.pk])
    assert f'data-groups="{a.pk} {c.pk}"' in response.content.decode() or (
        f'data-groups="{c.pk} {a.pk}"' in response.content.decode()
    )


def _now_in(sphere):
    return timezone.localtime(timezone=sphere.tzinfo)


# A fixed morning in Paris: the tests of the ten-minute confirmation must not depend on
# the hour they run at (a day ending within ten minutes, a time before midnight).
MORNING = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))


@pytest.fixture
def morning():
    with time_machine.travel(MORNING, tick=True):
        yield


def test_a_new_one_off_starts_tomorrow_at_8(admin_client, sphere):
    form = admin_client.get(
        reverse(
            "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
        )
    ).context["form"]
    tomorrow = timezone.localdate(timezone=sphere.tzinfo) + dt.timedelta(days=1)
    assert form["start_date"].value() == tomorrow
    assert form["send_time"].value() == dt.time(8, 0)
    assert form["frequency"].value() == "once"


def test_a_save_that_would_send_at_once_asks_for_confirmation_first(
    admin_client, sphere, morning
):
    # given: three learners who would receive it, a one-off for earlier today
    LearnerFactory.create_batch(3, sphere=sphere, level=10)
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    now = _now_in(sphere)
    data = _form(
        sphere,
        frequency="once",
        start_date=now.date().isoformat(),
        send_time=(now - dt.timedelta(minutes=1)).strftime("%H:%M"),
        subject="Objet saisi",
    )
    # when
    response = admin_client.post(url, data)
    # then: nothing saved; the question with the number, and the message to check
    page = response.content.decode()
    assert not Communication.objects.exists()
    assert "Envoyer maintenant à 3 utilisateurs ?" in page
    assert "Enregistrer et envoyer à 3 utilisateurs" in page
    assert response.context["preview_message"].subject == "Objet saisi"
    # when: confirmed
    response = admin_client.post(url, {**data, "confirmer": "1"})
    # then: saved, due at once
    communication = Communication.objects.get()
    assert response.status_code == 302
    assert communication.next_send_at is not None
    assert communication.next_send_at <= timezone.now()


def test_a_first_recurring_send_within_ten_minutes_is_confirmed_too(
    admin_client, sphere, morning
):
    now = _now_in(sphere)
    LearnerFactory.create_batch(2, sphere=sphere, level=10)
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    data = _form(
        sphere,
        frequency="daily",
        weekdays=[],
        start_date=now.date().isoformat(),
        send_time=(now + dt.timedelta(minutes=5)).strftime("%H:%M"),
    )
    response = admin_client.post(url, data)
    assert response.context["form"].errors == {}
    assert "Envoyer maintenant à 2 utilisateurs ?" in response.content.decode()
    assert not Communication.objects.exists()


def test_an_edit_that_does_not_move_a_send_due_soon_needs_no_confirmation(
    sphere, morning
):
    # given: a daily send due in five minutes (9 h 35, it is 9 h 30 in Paris)
    from communications.selectors import communication_initial
    from communications.services import (
        SendNeedsConfirmation,
        communication_update,
    )

    communication = CommunicationFactory(
        sphere=sphere,
        frequency="daily",
        start_date=MORNING.date(),
        send_time=dt.time(9, 35),
    )
    from communications.schedule import Recurrence

    due = Recurrence.of(communication).next_after(timezone.now())
    assert due is not None
    Communication.objects.filter(pk=communication.pk).update(next_send_at=due)
    communication.refresh_from_db()
    assert due - timezone.now() < dt.timedelta(minutes=10)
    initial = communication_initial(communication)
    # when: only the subject changes
    communication_update(
        communication=communication,
        actor=communication.created_by,
        data={**initial, "subject": "Nouvel objet", "weekdays": 0},
        groups=[],
    )
    # then: saved at once, the send as planned
    communication.refresh_from_db()
    assert (communication.subject, communication.next_send_at) == ("Nouvel objet", due)
    # but moving a send into the next ten minutes asks first
    communication.refresh_from_db()
    with pytest.raises(SendNeedsConfirmation):
        communication_update(
            communication=communication,
            actor=communication.created_by,
            data={**initial, "send_time": dt.time(9, 33), "weekdays": 0},
            groups=[],
        )


def test_preview_and_test_work_on_the_typed_values_before_saving(
    admin_client, sphere, admin_user, mailoutbox
):
    # given: two learners; nothing saved yet
    LearnerFactory(sphere=sphere, level=10, first_name="Léa", last_name="Martin")
    hugo = LearnerFactory(
        sphere=sphere, level=90, first_name="Hugo", last_name="Bernard"
    )
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    data = _form(
        sphere, subject="Bonjour {prenom}", message="Texte pour {prenom} {nom}"
    )
    # when: the preview, by default for the first learner who will receive it
    response = admin_client.post(url, {**data, "action": "apercu"})
    # then
    assert response.context["preview_learner"].first_name == "Léa"
    assert response.context["preview_message"].subject == "Bonjour Léa"
    assert "Texte pour Léa Martin" in response.content.decode()
    # when: for a learner outside the audience, found by name
    response = admin_client.post(
        url, {**data, "action": "apercu", "apercu_pour": "bernard"}
    )
    assert response.context["preview_learner"] == hugo
    assert response.context["preview_message"].subject == "Bonjour Hugo"
    # when: an unknown name
    response = admin_client.post(
        url, {**data, "action": "apercu", "apercu_pour": "zzz"}
    )
    assert "Aucun utilisateur de la sphère ne correspond à « zzz »" in (
        response.content.decode()
    )
    # when: a test
    response = admin_client.post(url, {**data, "action": "test"})
    # then: sent to the administrator, marked, and still nothing saved
    (test,) = mailoutbox
    assert test.to == [admin_user.email]
    assert test.subject == "[TEST] Bonjour Léa"
    assert not Communication.objects.exists()
    assert "a été envoyé à" in response.content.decode()


def test_preview_test_and_send_give_the_window_of_a_targeted_group(
    admin_client, sphere, settings
):
    # given: Léa in two groups with different windows; the communication targets B
    from spheres.tests.factories import EvaluationFactory, EvaluationWindowFactory

    a, b = GroupFactory(sphere=sphere, name="A"), GroupFactory(sphere=sphere, name="B")
    evaluation = EvaluationFactory(sphere=sphere)
    early = timezone.now() + dt.timedelta(days=3)
    late = timezone.now() + dt.timedelta(days=10)
    EvaluationWindowFactory(
        evaluation=evaluation,
        group=a,
        starts_at=early,
        ends_at=early + dt.timedelta(hours=1),
    )
    EvaluationWindowFactory(
        evaluation=evaluation,
        group=b,
        starts_at=late,
        ends_at=late + dt.timedelta(hours=1),
    )
    LearnerFactory(sphere=sphere, groups=[a, b], first_name="Léa")
    url = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "evaluation"}
    )
    data = _form(
        sphere,
        evaluation=evaluation.pk,
        groups=[b.pk],
        subject="{date_debut_evaluation}",
        message="{heure_debut_evaluation}",
    )
    # when
    response = admin_client.post(url, {**data, "action": "apercu"})
    # then: B's window, not A's (earlier, but not targeted)
    from spheres.dates import long_date

    expected = long_date(late.astimezone(sphere.tzinfo).date())
    assert response.context["preview_message"].subject == expected


def test_pourquoi_on_the_detail_page_and_on_the_form(admin_client, sphere):
    # given: a reminder to group A; Léa in A and lagging, Hugo in B
    a, b = (
        GroupFactory(sphere=sphere, name="3e A"),
        GroupFactory(sphere=sphere, name="3e B"),
    )
    LearnerFactory(
        sphere=sphere, groups=[a], level=10, first_name="Léa", last_name="Martin"
    )
    LearnerFactory(
        sphere=sphere, groups=[b], level=10, first_name="Hugo", last_name="Roux"
    )
    reminder = CommunicationFactory(sphere=sphere, groups=[a])
    url = reverse(
        "communications:detail", kwargs={"slug": sphere.slug, "pk": reminder.pk}
    )
    # when / then: on the detail page
    page = admin_client.get(url, {"pourquoi": "martin"})
    assert page.context["explanation"].receives
    assert "Reçoit cette communication." in page.content.decode()
    page = admin_client.get(url, {"pourquoi": "roux"})
    assert not page.context["explanation"].receives
    assert "Ne reçoit pas cette communication." in page.content.decode()
    assert "Condition non remplie" in page.content.decode()  # not by colour alone
    # and on the form, on the values typed (group B chosen instead)
    create = reverse(
        "communications:create", kwargs={"slug": sphere.slug, "kind": "reminder"}
    )
    response = admin_client.post(
        create,
        {**_form(sphere, groups=[b.pk]), "action": "pourquoi", "apercu_pour": "roux"},
    )
    assert response.context["explanation"].receives
    assert not Communication.objects.filter(name="Relance hebdomadaire").exists()


def test_a_communication_made_before_the_groups_shows_all_groups_and_asks_for_a_choice(
    admin_client, sphere
):
    # given: a communication made when the sphere had no group, then a group appears
    communication = CommunicationFactory(sphere=sphere)
    group = GroupFactory(sphere=sphere, name="3e A")
    url = reverse("communications:list", kwargs={"slug": sphere.slug})
    # then: the list says « Tous les groupes »
    assert "Tous les groupes" in admin_client.get(url).content.decode()
    # and its next edit asks for a choice
    edit = reverse(
        "communications:edit", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    response = admin_client.post(edit, _form(sphere, frequency="once", weekdays=[]))
    assert "Choisissez au moins un groupe destinataire." in response.content.decode()
    response = admin_client.post(
        edit, _form(sphere, frequency="once", weekdays=[], groups=[group.pk])
    )
    assert response.status_code == 302


# --- The shared password: never shown back, masked in previews -----------------------

PASSWORD = "Voltaire-2026!"
MASK = "\u2022" * 8


def _announcement_form(sphere, **overrides):
    data = _form(
        sphere,
        name="Lancement",
        subject="Bienvenue {prenom}",
        message="Identifiant : {identifiant}, mot de passe : {mot_de_passe}",
        frequency="once",
        weekdays=[],
        password=PASSWORD,
    )
    for criterion in ("max_minutes", "minutes_days", "max_level"):
        del data[criterion]
    data.update(overrides)
    return data


def _create_url(sphere, kind="announcement"):
    return reverse("communications:create", kwargs={"slug": sphere.slug, "kind": kind})


def _announcement(sphere, password=PASSWORD):
    from communications import crypto

    return CommunicationFactory(
        sphere=sphere,
        kind="announcement",
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        subject="Bienvenue {prenom}",
        message="Votre mot de passe : {mot_de_passe}",
        password_token=crypto.encrypt(password),
    )


def _password_input(page: str) -> str:
    import re

    (tag,) = re.findall(r'<input[^>]*name="password"[^>]*>', page)
    return tag


def test_the_edit_form_never_shows_the_stored_password(admin_client, sphere):
    # given
    communication = _announcement(sphere)
    url = reverse(
        "communications:edit", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )

    # when
    response = admin_client.get(url)

    # then: a blank field that says blank keeps it; nothing of it in the page
    page = response.content.decode()
    assert PASSWORD not in page
    assert communication.password_token not in page
    assert "value=" not in _password_input(page)
    assert "Laisser vide pour garder le mot de passe actuel" in page
    assert "no-store" in response["Cache-Control"]


def test_a_blank_password_on_edit_keeps_the_stored_one(admin_client, sphere):
    # given
    from communications import crypto, selectors

    communication = _announcement(sphere)
    url = reverse(
        "communications:edit", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    data = _announcement_form(sphere, name="Renommée", password="")

    # when
    response = admin_client.post(url, data)

    # then
    assert response.status_code == 302
    communication.refresh_from_db()
    assert communication.name == "Renommée"
    assert crypto.decrypt(communication.password_token) == PASSWORD
    assert "password" not in selectors.communication_initial(communication)


def test_a_new_password_on_edit_replaces_the_stored_one(admin_client, sphere):
    # given
    from communications import crypto

    communication = _announcement(sphere)
    url = reverse(
        "communications:edit", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )

    # when
    admin_client.post(url, _announcement_form(sphere, password="Nouveau-2027"))

    # then
    communication.refresh_from_db()
    assert crypto.decrypt(communication.password_token) == "Nouveau-2027"


def test_after_a_form_error_on_create_the_password_is_blank_and_asked_again(
    admin_client, sphere
):
    # given: a typed password and an unknown placeholder in the message
    data = _announcement_form(
        sphere, message="Bonjour {prenon}, votre mot de passe : {mot_de_passe}"
    )

    # when
    response = admin_client.post(_create_url(sphere), data)

    # then: everything else kept, the password blank with a message to type it again
    page = response.content.decode()
    assert response.status_code == 200
    assert not Communication.objects.exists()
    assert PASSWORD not in page
    assert "value=" not in _password_input(page)
    assert "mot_de_passe_conserve" not in page
    assert response.context["form"].errors["password"] == [
        "Saisissez à nouveau le mot de passe\u00a0: pour votre sécurité, il n'est "
        "jamais réaffiché."
    ]
    assert 'value="Lancement"' in page
    assert "Bonjour {prenon}" in page


def test_after_a_form_error_on_edit_a_typed_new_password_is_asked_again(
    admin_client, sphere
):
    # given: a new password typed, and an error elsewhere
    communication = _announcement(sphere)
    url = reverse(
        "communications:edit", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    data = _announcement_form(sphere, password="Nouveau-2027", subject="")

    # when
    response = admin_client.post(url, data)

    # then: not silently dropped (blank would keep the old one)
    page = response.content.decode()
    assert "Nouveau-2027" not in page
    assert "Saisissez à nouveau le mot de passe" in page


def test_a_new_announcement_requires_its_password(admin_client, sphere):
    # given: no password, a message that does not even use it
    data = _announcement_form(sphere, password="", message="Bonjour {prenom}")

    # when
    response = admin_client.post(_create_url(sphere), data)

    # then
    assert response.context["form"].errors["password"]
    assert not Communication.objects.exists()


def test_the_confirmation_carries_the_password_encrypted_never_in_clear(
    admin_client, sphere, morning
):
    # given: an announcement that would leave at once, to three learners
    from communications import crypto

    LearnerFactory.create_batch(3, sphere=sphere)
    now = _now_in(sphere)
    data = _announcement_form(
        sphere,
        start_date=now.date().isoformat(),
        send_time=(now - dt.timedelta(minutes=1)).strftime("%H:%M"),
    )

    # when: saved, it asks for confirmation
    response = admin_client.post(_create_url(sphere), data)

    # then: the page holds the password neither in the field nor anywhere else
    page = response.content.decode()
    assert "Envoyer maintenant à 3 utilisateurs ?" in page
    assert PASSWORD not in page
    assert "value=" not in _password_input(page)
    kept = response.context["password_kept"]
    assert kept and f'name="mot_de_passe_conserve" value="{kept}"' in page
    assert "no-store" in response["Cache-Control"]

    # when: confirmed, as the browser posts the page (the password field blank)
    response = admin_client.post(
        _create_url(sphere),
        {**data, "password": "", "mot_de_passe_conserve": kept, "confirmer": "1"},
    )

    # then: saved with the password typed at the first step
    assert response.status_code == 302
    communication = Communication.objects.get()
    assert crypto.decrypt(communication.password_token) == PASSWORD


def test_a_kept_password_made_for_another_form_or_altered_is_refused(
    admin_client, sphere
):
    # given: a kept password from the preview of a new announcement
    communication = _announcement(sphere, password="Autre-2020")
    response = admin_client.post(
        _create_url(sphere), {**_announcement_form(sphere), "action": "apercu"}
    )
    kept = response.context["password_kept"]
    assert kept
    edit_url = reverse(
        "communications:edit", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )

    # when: posted to the edit form of another communication, or altered
    blank = _announcement_form(sphere, password="")
    elsewhere = admin_client.post(edit_url, {**blank, "mot_de_passe_conserve": kept})
    altered = admin_client.post(
        _create_url(sphere), {**blank, "mot_de_passe_conserve": kept[:-2] + "xx"}
    )

    # then: the edit keeps its own password; the new one still asks for one
    from communications import crypto

    assert elsewhere.status_code == 302
    communication.refresh_from_db()
    assert crypto.decrypt(communication.password_token) == "Autre-2020"
    assert altered.context["form"].errors["password"]
    assert Communication.objects.count() == 1


def test_the_preview_masks_the_password_until_revealed(admin_client, sphere):
    # given
    communication = _announcement(sphere)
    LearnerFactory(sphere=sphere, first_name="Léa", identifiant="lea.martin")
    url = reverse(
        "communications:preview", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )

    # when
    response = admin_client.get(url)

    # then: masked, with a link that reveals it for the same learner
    page = response.content.decode()
    assert PASSWORD not in page
    assert f"Votre mot de passe : {MASK}" in page
    assert "Afficher le mot de passe" in page
    assert 'href="?utilisateur=lea.martin&amp;reveal=1"' in page
    assert "no-store" in response["Cache-Control"]

    # when: revealed
    response = admin_client.get(url, {"utilisateur": "lea.martin", "reveal": "1"})

    # then
    page = response.content.decode()
    assert f"Votre mot de passe : {PASSWORD}" in page
    assert "Masquer le mot de passe" in page
    assert "no-store" in response["Cache-Control"]


def test_the_preview_offers_no_reveal_when_the_message_has_no_password(
    admin_client, sphere
):
    communication = _announcement(sphere)
    Communication.objects.filter(pk=communication.pk).update(message="Bonjour")
    LearnerFactory(sphere=sphere)
    url = reverse(
        "communications:preview", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )
    page = admin_client.get(url).content.decode()
    assert "Afficher le mot de passe" not in page


def test_the_test_email_from_the_preview_still_contains_the_password(
    admin_client, sphere, mailoutbox
):
    # given
    communication = _announcement(sphere)
    learner = LearnerFactory(sphere=sphere)
    url = reverse(
        "communications:send_test", kwargs={"slug": sphere.slug, "pk": communication.pk}
    )

    # when
    response = admin_client.post(url, {"learner": learner.pk})

    # then
    (test,) = mailoutbox
    assert f"Votre mot de passe : {PASSWORD}" in test.body
    assert PASSWORD in test.alternatives[0][0]
    assert "no-store" in response["Cache-Control"]


def test_the_form_preview_masks_the_typed_password_until_revealed(
    admin_client, sphere, mailoutbox
):
    # given
    LearnerFactory(sphere=sphere, first_name="Léa")
    data = _announcement_form(sphere)

    # when: the preview of the values typed
    response = admin_client.post(_create_url(sphere), {**data, "action": "apercu"})

    # then: masked, with a button to reveal it; the password kept encrypted
    page = response.content.decode()
    assert PASSWORD not in page
    assert MASK in response.context["preview_message"].text
    assert 'name="action" value="reveler"' in page
    kept = response.context["password_kept"]

    # when: revealed, the page having posted the kept password (field blank)
    revealed = admin_client.post(
        _create_url(sphere),
        {
            **data,
            "password": "",
            "mot_de_passe_conserve": kept,
            "action": "reveler",
        },
    )

    # then
    assert PASSWORD in revealed.context["preview_message"].text
    assert "Masquer le mot de passe" in revealed.content.decode()

    # when: a test is sent from the form
    admin_client.post(
        _create_url(sphere),
        {**data, "password": "", "mot_de_passe_conserve": kept, "action": "test"},
    )

    # then: the e-mail has the password in clear
    (test,) = mailoutbox
    assert PASSWORD in test.body
    assert not Communication.objects.exists()


def test_resending_failed_messages_is_shown_in_the_communication_history(
    admin_client, admin_user, sphere, django_capture_on_commit_callbacks
):
    # given: a send with two failed messages
    from communications.tests.factories import DeliveryFactory, SendFactory

    communication = CommunicationFactory(sphere=sphere)
    send = SendFactory(communication=communication)
    DeliveryFactory.create_batch(2, send=send)
    kwargs = {"slug": sphere.slug, "pk": communication.pk}
    # when: the administrator sends them again
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(
            reverse("communications:send_retry", kwargs={**kwargs, "send_id": send.pk})
        )
    page = admin_client.get(reverse("communications:detail", kwargs=kwargs))
    # then: the history says who did it and for how many messages
    assert (
        f"Renvoi des messages en échec par {admin_user.email} (2 messages)"
        in page.content.decode()
    )


def test_the_send_page_counts_and_names_the_learners_already_reminded(
    admin_client, sphere
):
    # given: this morning's « Relance du matin » reached Léa; the evening's reminder
    # then left her out, with Hugo, whose morning message has failed since
    sphere.one_reminder_per_day = True
    sphere.save()
    lea = LearnerFactory(sphere=sphere, identifiant="lea")
    hugo = LearnerFactory(sphere=sphere, identifiant="hugo")
    now = timezone.now()
    morning = Send.objects.create(
        communication=CommunicationFactory(sphere=sphere, name="Relance <du matin>"),
        scheduled_for=now - dt.timedelta(minutes=5),
    )
    for learner, status in (
        (lea, Delivery.Status.SENT),
        (hugo, Delivery.Status.FAILED),
    ):
        Delivery.objects.create(
            send=morning,
            learner=learner,
            identifiant=learner.identifiant,
            status=status,
        )
    evening = CommunicationFactory(sphere=sphere, name="Relance du soir")
    send = Send.objects.create(communication=evening, scheduled_for=now)
    for learner in (lea, hugo):
        Delivery.objects.create(
            send=send,
            learner=learner,
            identifiant=learner.identifiant,
            status=Delivery.Status.SKIPPED,
            reason=Delivery.Reason.ALREADY_REMINDED,
        )
    # when
    response = admin_client.get(
        reverse(
            "communications:send_detail",
            kwargs={"slug": sphere.slug, "pk": evening.pk, "send_id": send.pk},
        )
    )
    # then: the count, then each row's reason, the other reminder named (escaped)
    page = html.unescape(response.content.decode())
    assert "2 déjà relancé aujourd'hui" in page
    rows = {
        row.split("</td>")[0].rsplit(">", 1)[-1]: row
        for row in response.content.decode().split("<tr>")[1:]
    }
    assert "Relance &lt;du matin&gt;" in rows["lea"]
    assert (
        "<td>Déjà relancé aujourd'hui par la relance «\u00a0Relance <du matin>\u00a0»"
        "</td>" in html.unescape(rows["lea"])
    )
    assert "<td>Déjà relancé aujourd'hui</td>" in html.unescape(rows["hugo"])


def test_pourquoi_on_the_detail_page_names_the_reminder_of_the_day(
    admin_client, sphere
):
    # given: Léa reached this morning by « Relance <du matin> »; the cap on
    lea = LearnerFactory(sphere=sphere, level=10, last_name="Martin")
    morning = Send.objects.create(
        communication=CommunicationFactory(sphere=sphere, name="Relance <du matin>"),
        scheduled_for=timezone.now(),
    )
    Delivery.objects.create(
        send=morning,
        learner=lea,
        identifiant=lea.identifiant,
        status=Delivery.Status.SENT,
    )
    evening = CommunicationFactory(sphere=sphere, name="Relance du soir")
    # when
    response = admin_client.get(
        reverse(
            "communications:detail", kwargs={"slug": sphere.slug, "pk": evening.pk}
        ),
        {"pourquoi": "martin"},
    )
    # then: what the administrator reads, the name escaped
    page = response.content.decode()
    assert "Ne reçoit pas cette communication." in page
    assert "Relance &lt;du matin&gt;" in page
    assert (
        "Déjà relancé aujourd'hui par la relance «\u00a0Relance <du matin>\u00a0»\u00a0: "
        "la sphère envoie au plus une relance par utilisateur et par jour."
        in html.unescape(page)
    )
