"""The « Communications » tab in a real browser, driven by labels and roles in French,
as a sphere administrator reads the pages: the guide's three examples, the list and its
colours, the options (modify, duplicate, deactivate), placeholder errors and buttons,
the preview and the test send."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from accounts.tests.factories import UserFactory
from communications.models import Communication
from communications.tests.factories import CommunicationFactory
from spheres.tests.factories import (
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
    SphereFactory,
)

from .conftest import log_in

pytestmark = pytest.mark.browser

ORANGE = "rgb(180, 83, 9)"
BLACK = "rgb(27, 31, 36)"
ANNOUNCEMENT = "Annonce de la mise à disposition du Projet Voltaire"
REMINDER = "Relance des utilisateurs"
EVALUATION = "Annonce d'une évaluation"


# --- Helpers: what an administrator sees and does -------------------------------------


def _admin_of(sphere):
    user = UserFactory()
    sphere.administrators.add(user)
    return user


def _scheduled_reminder(sphere, name: str, admin) -> Communication:
    """A reminder to all learners, sent once next week at 08 h 00 (sphere time)."""
    start = timezone.localdate(timezone=sphere.tzinfo) + dt.timedelta(days=7)
    at = dt.datetime.combine(start, dt.time(8, 0), tzinfo=ZoneInfo(sphere.timezone))
    return CommunicationFactory(
        sphere=sphere, name=name, created_by=admin, start_date=start, next_send_at=at
    )


def _open_communications(page: Page, sphere) -> None:
    """From « Mes sphères »: open the sphere, then its « Communications » tab."""
    page.get_by_role("link", name=sphere.name).click()
    tabs = page.get_by_role("navigation", name="Onglets de la sphère")
    tabs.get_by_role("link", name="Communications").click()
    heading = page.get_by_role("heading", name="Communications", exact=True)
    expect(heading).to_be_visible()


def _back_to_list(page: Page) -> None:
    tabs = page.get_by_role("navigation", name="Onglets de la sphère")
    tabs.get_by_role("link", name="Communications").click()


def _start_creating(page: Page, kind_label: str) -> None:
    page.get_by_role("link", name="Créer une communication").click()
    page.get_by_role("link", name=kind_label).click()
    expect(page.get_by_role("heading", name="Créer une communication")).to_be_visible()
    expect(page.get_by_text(kind_label, exact=True)).to_be_visible()


def _message(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message", exact=True)


def _reach(page: Page, count: int) -> Locator:
    return page.get_by_text(
        f"{count} utilisateurs recevraient cette communication aujourd'hui"
    )


def _save(page: Page) -> None:
    page.get_by_role("button", name="Enregistrer").click()


def _row(page: Page, name: str) -> Locator:
    link = page.get_by_role("link", name=name, exact=True)
    return page.get_by_role("row").filter(has=link)


def _color(locator: Locator) -> str:
    return locator.evaluate("element => getComputedStyle(element).color")


def _side_by_side(control: Locator, label: Locator) -> bool:
    """Whether a checkbox or radio button is on the line of its label, before it."""
    box, text = control.bounding_box(), label.bounding_box()
    assert box is not None
    assert text is not None
    middle = text["y"] + text["height"] / 2
    return box["y"] <= middle <= box["y"] + box["height"] and box["x"] < text["x"]


# --- The guide's three examples -------------------------------------------------------


def test_announcement_in_a_sphere_without_groups(
    page: Page, live_server, artifacts_dir
):
    sphere = SphereFactory(name="Collège Candide")
    admin = _admin_of(sphere)
    LearnerFactory.create_batch(3, sphere=sphere)

    log_in(page, admin)
    _open_communications(page, sphere)
    _start_creating(page, ANNOUNCEMENT)

    expect(
        page.get_by_text(
            "Cette sphère n'a aucun groupe : la communication sera envoyée"
        )
    ).to_be_visible()
    expect(_reach(page, 3)).to_be_visible()
    password = page.get_by_label("Mot de passe")
    expect(password).to_have_value("")  # never pre-filled: the admin types it
    expect(page.get_by_label("Objet")).not_to_have_value("")
    expect(_message(page)).to_contain_text("{mot_de_passe}")

    page.get_by_label("Nom de la communication").fill("Lancement du Projet Voltaire")
    page.get_by_label("Votre adresse électronique").fill("professeur@college.example")
    password.fill("Voltaire-2026")
    page.get_by_label("Envoi unique").check()
    page.screenshot(
        path=artifacts_dir / "communication-form-announcement.png", full_page=True
    )
    _save(page)

    expect(
        page.get_by_text(
            "La communication « Lancement du Projet Voltaire » est enregistrée."
        )
    ).to_be_visible()
    expect(page.get_by_text("enregistré (jamais réaffiché)")).to_be_visible()
    _back_to_list(page)
    row = _row(page, "Lancement du Projet Voltaire")
    expect(row).to_contain_text("Annonce")  # the list's short type label
    expect(row.get_by_title(ANNOUNCEMENT)).to_have_text("Annonce")
    expect(row).to_contain_text("Tous les utilisateurs")
    expect(row).to_contain_text("Active")
    communication = Communication.objects.get(sphere=sphere)
    assert communication.kind == Communication.Kind.ANNOUNCEMENT
    assert not communication.groups.exists()
    assert communication.has_password


def test_reminder_to_two_groups_weekly_with_a_live_count(
    page: Page, live_server, artifacts_dir
):
    sphere = SphereFactory(name="Lycée Zadig")
    admin = _admin_of(sphere)
    seconde_1 = GroupFactory(sphere=sphere, name="Seconde 1")
    seconde_2 = GroupFactory(sphere=sphere, name="Seconde 2")
    premiere = GroupFactory(sphere=sphere, name="Première 1")
    # No recorded activity (0 minutes) and level 50 %: in the reminder's audience.
    LearnerFactory.create_batch(2, sphere=sphere, groups=[seconde_1])
    LearnerFactory(sphere=sphere, groups=[seconde_2])
    LearnerFactory(sphere=sphere, groups=[seconde_1, seconde_2])  # counted once
    LearnerFactory(sphere=sphere, groups=[premiere])
    LearnerFactory(sphere=sphere, level=90, groups=[seconde_2])  # level too high
    LearnerFactory(sphere=sphere)  # no group: never included

    log_in(page, admin)
    _open_communications(page, sphere)
    _start_creating(page, REMINDER)

    expect(
        page.get_by_text("Vous devez définir ici auprès de quel public doit être")
    ).to_be_visible()
    expect(page.get_by_label("Temps passé inférieur à (minutes)")).to_have_value("15")
    expect(page.get_by_label("au cours des derniers (jours)")).to_have_value("7")
    expect(page.get_by_label("Niveau inférieur à (%)")).to_have_value("75")
    expect(page.get_by_text("Choisissez au moins un groupe pour voir")).to_be_visible()
    ungrouped = page.get_by_text("1 utilisateur sans groupe n'est jamais inclus.")
    expect(ungrouped).to_be_visible()

    # The count follows the choices without reloading the page.
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Seconde 1").check()
    expect(_reach(page, 3)).to_be_visible()
    page.get_by_label("Seconde 2").check()
    expect(_reach(page, 4)).to_be_visible()
    page.get_by_label("Niveau inférieur à (%)").fill("95")
    expect(_reach(page, 5)).to_be_visible()
    page.get_by_label("Niveau inférieur à (%)").fill("75")
    expect(_reach(page, 4)).to_be_visible()
    expect(ungrouped).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    assert _side_by_side(page.get_by_label("Seconde 2"), page.get_by_text("Seconde 2"))

    page.get_by_label("Nom de la communication").fill("Relance hebdomadaire")
    page.get_by_label("Votre adresse électronique").fill("professeur@lycee.example")
    weekdays = page.get_by_role("group", name="Jours de la semaine")
    expect(weekdays).to_be_hidden()
    weekly = "Envoi régulier : chaque semaine, les jours choisis"
    page.get_by_label(weekly).check()
    assert _side_by_side(page.get_by_label(weekly), page.get_by_text(weekly))
    expect(weekdays).to_be_visible()
    weekdays.get_by_label("Lundi").check()
    weekdays.get_by_label("Jeudi").check()
    assert _side_by_side(weekdays.get_by_label("Jeudi"), weekdays.get_by_text("Jeudi"))
    page.get_by_label("Heure d'envoi").fill("17:30")
    page.screenshot(
        path=artifacts_dir / "communication-form-reminder.png", full_page=True
    )
    _save(page)

    expect(
        page.get_by_text("« Relance hebdomadaire » est enregistrée.")
    ).to_be_visible()
    expect(page.get_by_text("Prochain envoi :")).to_be_visible()
    communication = Communication.objects.get(sphere=sphere)
    assert communication.kind == Communication.Kind.REMINDER
    assert communication.max_minutes == 15
    assert communication.minutes_days == 7
    assert communication.max_level == 75
    assert set(communication.groups.all()) == {seconde_1, seconde_2}
    assert communication.frequency == Communication.Frequency.WEEKLY
    assert communication.weekdays == (1 << 0) | (1 << 3)

    _back_to_list(page)
    row = _row(page, "Relance hebdomadaire")
    expect(row).to_contain_text("Seconde 1, Seconde 2")
    expect(row).to_contain_text("moins de 15 min sur 7 jours")
    expect(row).to_contain_text("Tous les lundis et jeudis à 17 h 30")


def test_evaluation_announcement_preview_and_test_send(
    page: Page, live_server, artifacts_dir
):
    sphere = SphereFactory(name="Lycée Micromégas")
    admin = _admin_of(sphere)
    terminale_a = GroupFactory(sphere=sphere, name="Terminale A")
    terminale_b = GroupFactory(sphere=sphere, name="Terminale B")
    evaluation = EvaluationFactory(sphere=sphere, name="Évaluation de fin d'année")
    EvaluationWindowFactory(evaluation=evaluation, group=terminale_a)
    EvaluationWindowFactory(evaluation=evaluation, group=terminale_b)
    LearnerFactory(
        sphere=sphere,
        identifiant="adurand",
        first_name="Amélie",
        last_name="Durand",
        groups=[terminale_a],
    )
    LearnerFactory(sphere=sphere, groups=[terminale_b])

    log_in(page, admin)
    _open_communications(page, sphere)
    _start_creating(page, EVALUATION)

    # the groups of the evaluation start ticked, and the count follows
    expect(page.get_by_label("Terminale A")).to_be_checked()
    expect(page.get_by_label("Terminale B")).to_be_checked()
    expect(_reach(page, 2)).to_be_visible()
    page.get_by_label("Terminale B").uncheck()
    expect(
        page.get_by_text("1 utilisateur recevrait cette communication aujourd'hui")
    ).to_be_visible()
    evaluation_choice = page.get_by_role("combobox", name="Évaluation", exact=True)
    evaluation_choice.select_option(label=evaluation.name)
    expect(page.get_by_label("Terminale B")).to_be_checked()
    expect(_reach(page, 2)).to_be_visible()
    page.get_by_label("Nom de la communication").fill("Annonce de l'évaluation finale")
    page.get_by_label("Votre adresse électronique").fill("professeur@lycee.example")
    expect(_message(page)).to_contain_text("{date_debut_evaluation}")
    _save(page)
    expect(page.get_by_text("est enregistrée.")).to_be_visible()

    page.get_by_role("link", name="Aperçu du message et envoi d'un test").click()
    learner_choice = page.get_by_label("Voir le message reçu par (nom ou identifiant)")
    learner_choice.fill("amélie durand")
    page.get_by_role("button", name="Afficher").click()
    expect(learner_choice).to_have_value("amélie durand")
    expect(
        page.get_by_role("heading", name="Le message tel que le recevra Amélie Durand")
    ).to_be_visible()
    text = page.locator("pre")
    expect(text).to_contain_text("Bonjour Amélie Durand")
    expect(text).not_to_contain_text("{prenom}")
    expect(text).not_to_contain_text("{date_debut_evaluation}")
    html = page.frame_locator("iframe[title='Version HTML du message']")
    expect(html.locator("body")).to_contain_text("Amélie")
    page.screenshot(path=artifacts_dir / "communication-preview.png", full_page=True)

    page.get_by_role("button", name="Envoyer un test").click()
    expect(page.get_by_text(f"a été envoyé à {admin.email}")).to_be_visible()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("[TEST]")
    assert mail.outbox[0].to == [admin.email]
    assert "Amélie" in mail.outbox[0].body


# --- The list and the options ---------------------------------------------------------


def test_options_deactivate_read_only_and_duplicate(
    page: Page, live_server, artifacts_dir
):
    sphere = SphereFactory(name="Lycée Candide")
    admin = _admin_of(sphere)
    LearnerFactory.create_batch(2, sphere=sphere)
    _scheduled_reminder(sphere, "Relance de janvier", admin)
    _scheduled_reminder(sphere, "Relance de mars", admin)

    log_in(page, admin)
    _open_communications(page, sphere)
    expect(
        page.get_by_text("Les communications actives apparaissent en noir")
    ).to_be_visible()
    expect(_row(page, "Relance de janvier")).to_contain_text("Prochain envoi :")
    page.get_by_role("link", name="Relance de janvier").click()

    options = page.get_by_role("list", name="Options")
    expect(options.get_by_role("link")).to_have_text(
        ["Modifier", "Dupliquer", "Désactiver"]
    )
    # The link opens the dialog once dialog.js (deferred) has run, at the latest by the
    # load event: a click before that follows the link to the fallback page.
    page.wait_for_load_state("load")
    options.get_by_role("link", name="Désactiver").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("définitive")
    expect(dialog).to_contain_text("ne pourra plus jamais être réactivée")
    page.screenshot(path=artifacts_dir / "communication-deactivate-dialog.png")
    dialog.get_by_role("button", name="Désactiver définitivement").click()

    expect(
        page.get_by_text("La communication « Relance de janvier » est désactivée.")
    ).to_be_visible()
    deactivated = _row(page, "Relance de janvier")
    active = _row(page, "Relance de mars")
    expect(deactivated).to_contain_text("Désactivée")  # the state, in words too
    expect(deactivated).not_to_contain_text("Prochain envoi")
    expect(active).to_contain_text("Active")
    deactivated_name = deactivated.get_by_role("link", name="Relance de janvier")
    assert _color(deactivated_name) == ORANGE
    assert _color(deactivated.get_by_text("Désactivée")) == ORANGE
    assert _color(active.get_by_role("link", name="Relance de mars")) == BLACK
    page.screenshot(path=artifacts_dir / "communication-list.png", full_page=True)
    assert Communication.objects.get(name="Relance de janvier").is_deactivated

    deactivated_name.click()
    options = page.get_by_role("list", name="Options")
    expect(options.get_by_role("link")).to_have_text(["Consulter", "Dupliquer"])
    options.get_by_role("link", name="Consulter").click()
    expect(page.get_by_role("heading", name="lecture seule")).to_be_visible()
    expect(page.get_by_label("Nom de la communication")).to_be_disabled()
    expect(_message(page)).to_be_disabled()
    expect(page.get_by_label("Temps passé inférieur à (minutes)")).to_be_disabled()
    expect(page.get_by_role("button", name="Prénom", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Enregistrer")).to_have_count(0)
    expect(page.get_by_text("elle ne sera plus envoyée à personne")).to_be_visible()
    expect(page.get_by_text("recevraient cette communication")).to_have_count(0)
    page.screenshot(
        path=artifacts_dir / "communication-form-read-only.png", full_page=True
    )

    page.get_by_role("link", name="Dupliquer").click()
    expect(page.get_by_role("heading", name="Créer une communication")).to_be_visible()
    expect(page.get_by_text("Copie de « Relance de janvier »")).to_be_visible()
    name = page.get_by_label("Nom de la communication")
    expect(name).to_be_enabled()
    expect(name).to_have_value("Copie de Relance de janvier")
    expect(_message(page)).to_have_value(
        "Bonjour {prenom} {nom}, votre identifiant : {identifiant}."
    )
    _save(page)
    expect(
        page.get_by_text("« Copie de Relance de janvier » est enregistrée.")
    ).to_be_visible()

    _back_to_list(page)
    copy = _row(page, "Copie de Relance de janvier")
    expect(copy).to_contain_text("Active")
    assert _color(copy.get_by_role("link", name="Copie de Relance de janvier")) == BLACK
    expect(_row(page, "Relance de janvier")).to_contain_text("Désactivée")
    assert Communication.objects.filter(sphere=sphere).count() == 3


# --- Placeholders ---------------------------------------------------------------------


def test_unknown_placeholder_is_refused_and_buttons_insert_at_the_cursor(
    page: Page, live_server
):
    sphere = SphereFactory(name="Collège Zaïre")
    admin = _admin_of(sphere)
    LearnerFactory(sphere=sphere)

    log_in(page, admin)
    _open_communications(page, sphere)
    _start_creating(page, REMINDER)

    message = _message(page)
    message.fill("Bonjour , à bientôt.")
    message.press("Control+Home")
    for _ in range(len("Bonjour ")):
        message.press("ArrowRight")
    page.get_by_role("button", name="Prénom", exact=True).click()
    expect(message).to_have_value("Bonjour {prenom}, à bientôt.")
    page.get_by_role("button", name="Nom de la sphère").click()
    expect(message).to_have_value("Bonjour {prenom}{nom_sphere}, à bientôt.")

    typed = "Bonjour {prenon},\nPensez à vous entraîner sur {nom_sphere}."
    message.fill(typed)
    page.get_by_label("Nom de la communication").fill("Relance avec une faute")
    page.get_by_label("Votre adresse électronique").fill("professeur@college.example")
    _save(page)

    expect(page.get_by_role("alert")).to_be_visible()
    # The error is next to the field and linked to it: it names the unknown
    # placeholder and lists the allowed ones. Nothing typed is lost.
    expect(message).to_have_accessible_description(re.compile(r"\{prenon\}"))
    expect(message).to_have_accessible_description(re.compile(r"\{prenom\}"))
    expect(message).to_have_value(typed)
    expect(page.get_by_label("Nom de la communication")).to_have_value(
        "Relance avec une faute"
    )
    assert not Communication.objects.filter(sphere=sphere).exists()


# --- The school calendar ----------------------------------------------------------------


def _next_christmas_monday(sphere) -> dt.date:
    """The first Monday of the coming Christmas holidays of the sphere's zone, at least
    a week away (from the national calendar the product ships)."""
    from communications.selectors import closed_days

    today = timezone.localdate(timezone=sphere.tzinfo)
    closed = closed_days(
        sphere=sphere, first=today, last=today + dt.timedelta(days=400)
    )
    mondays = [
        day
        for day, reason in sorted(closed.items())
        if reason.startswith("vacances de Noël")
        and day.weekday() == 0
        and day >= today + dt.timedelta(days=8)
    ]
    assert mondays, "the national school calendar lacks the next Christmas holidays"
    return mondays[0]


def test_a_weekly_reminder_skips_the_christmas_holidays(
    page: Page, live_server, artifacts_dir
):
    sphere = SphereFactory(name="Lycée Candide", school_zone="C")
    admin = _admin_of(sphere)
    LearnerFactory.create_batch(2, sphere=sphere)
    christmas_monday = _next_christmas_monday(sphere)
    start = christmas_monday - dt.timedelta(days=7)

    log_in(page, admin)
    _open_communications(page, sphere)
    _start_creating(page, REMINDER)
    page.get_by_label("Nom de la communication").fill("Relance du lundi")
    page.get_by_label("Votre adresse électronique").fill("professeur@lycee.example")
    option = page.get_by_label(
        "Ne pas envoyer pendant les vacances scolaires ni les jours fériés"
    )
    expect(option).to_be_hidden()  # a one-off by default
    page.get_by_label("Envoi régulier : chaque semaine, les jours choisis").check()
    page.get_by_role("group", name="Jours de la semaine").get_by_label("Lundi").check()
    page.get_by_label("Date de début").fill(start.isoformat())
    expect(option).to_be_visible()
    expect(option).to_be_checked()
    choice = page.get_by_role("group", name="Un jour de vacances ou férié")
    expect(choice.get_by_label("Sauter l'envoi")).to_be_checked()
    expect(page.get_by_text("seuls les jours fériés comptent")).to_have_count(0)
    option.uncheck()
    expect(choice).to_be_hidden()
    option.check()
    expect(choice).to_be_visible()
    choice.locator("xpath=ancestor::fieldset[contains(@class, 'card')]").screenshot(
        path=artifacts_dir / "communication-form-holidays.png"
    )
    _save(page)

    expect(page.get_by_text("« Relance du lundi » est enregistrée.")).to_be_visible()
    upcoming = page.locator("ul.upcoming")
    expect(upcoming).to_contain_text("Prochain envoi :")
    expect(upcoming.get_by_role("listitem").filter(has_text="sauté")).to_contain_text(
        ["sauté : vacances de Noël, zone C"] * 2
    )
    page.screenshot(path=artifacts_dir / "communication-holidays.png", full_page=True)
    communication = Communication.objects.get(sphere=sphere)
    assert communication.holiday_policy == Communication.HolidayPolicy.SKIP
