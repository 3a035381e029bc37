import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from communications import rendering
from communications.rendering import Kind, PlaceholderError, parse


def test_known_placeholders_are_substituted():
    # given
    template = parse("Bonjour {prenom} {nom} ({identifiant})", kind=Kind.REMINDER)
    # when
    text = template.render({"prenom": "Léa", "nom": "Martin", "identifiant": "lmartin"})
    # then
    assert text == "Bonjour Léa Martin (lmartin)"


def test_unknown_placeholder_is_refused_with_its_name_and_the_allowed_list():
    with pytest.raises(PlaceholderError) as error:
        parse("Bonjour {prénom}", kind=Kind.REMINDER)
    assert "{prénom}" in str(error.value)
    assert "{prenom}" in str(error.value)
    assert "{lien_connexion}" in str(error.value)


def test_a_placeholder_of_another_type_is_refused():
    with pytest.raises(PlaceholderError) as error:
        parse("Votre mot de passe : {mot_de_passe}", kind=Kind.REMINDER)
    assert "{mot_de_passe}" in str(error.value)
    # but the announcement has it
    assert parse("{mot_de_passe}", kind=Kind.ANNOUNCEMENT).fields == {"mot_de_passe"}


def test_double_braces_are_literal_and_code_is_never_evaluated():
    # given: things that would be evaluated by a template language
    text = "{{ settings.SECRET_KEY }} {{prenom}}"
    # when
    rendered = parse(text, kind=Kind.REMINDER).render({"prenom": "Léa"})
    # then
    assert rendered == "{ settings.SECRET_KEY } {prenom}"


def test_attribute_access_in_a_placeholder_is_refused():
    with pytest.raises(PlaceholderError):
        parse("{prenom.__class__}", kind=Kind.REMINDER)
    with pytest.raises(PlaceholderError):
        parse("{prenom!r}", kind=Kind.REMINDER)


@pytest.mark.parametrize("text", ["Bonjour {prenom", "Bonjour prenom}", "{ {"])
def test_a_stray_brace_is_refused(text):
    with pytest.raises(PlaceholderError) as error:
        parse(text, kind=Kind.REMINDER)
    assert "accolade" in str(error.value).lower()


def test_subject_must_be_one_line():
    with pytest.raises(PlaceholderError):
        rendering.check_subject("Bonjour\r\nBcc: victim@example.com")
    rendering.check_subject("Bonjour {prenom}")


def test_html_part_escapes_literal_text_and_learner_values():
    # given
    template = parse("<b>Bonjour</b> {prenom}\nà bientôt", kind=Kind.REMINDER).as_html()
    # when
    html = template.render({"prenom": rendering.escape("<script>alert(1)</script>")})
    # then
    assert "&lt;b&gt;Bonjour&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "<br>" in html


def test_dates_and_times_are_french_in_the_sphere_time_zone():
    # given: 13:30 UTC is 14:30 in Paris in December and 17:30 in Réunion
    starts = dt.datetime(2026, 12, 7, 13, 30, tzinfo=dt.UTC)
    ends = starts + dt.timedelta(hours=2)
    # when
    paris = rendering.window_values(starts, ends, ZoneInfo("Europe/Paris"))
    reunion = rendering.window_values(starts, ends, ZoneInfo("Indian/Reunion"))
    # then
    assert paris["date_debut_evaluation"] == "lundi 7 décembre 2026"
    assert paris["heure_debut_evaluation"] == "14 h 30"
    assert paris["heure_fin_evaluation"] == "16 h 30"
    assert reunion["heure_debut_evaluation"] == "17 h 30"


@pytest.mark.parametrize("kind", [Kind.ANNOUNCEMENT, Kind.REMINDER, Kind.EVALUATION])
def test_each_type_has_a_valid_french_default_using_its_placeholders(kind):
    subject, message = rendering.DEFAULT_TEXTS[kind]
    parse(str(subject), kind=kind)
    fields = parse(str(message), kind=kind).fields
    assert {"prenom", "nom", "identifiant"} <= fields
    if kind == Kind.ANNOUNCEMENT:
        assert "mot_de_passe" in fields
    if kind == Kind.EVALUATION:
        assert "date_debut_evaluation" in fields
