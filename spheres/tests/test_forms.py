"""The form field of addresses the platform sends to or from (``SendableEmailField``)."""

import pytest
from django import forms

from spheres.forms import SendableEmailField


class AddressForm(forms.Form):
    address = SendableEmailField()
    optional = SendableEmailField(required=False)


def cleaned(**data: str) -> forms.Form:
    form = AddressForm(data={"address": "", "optional": "", **data})
    form.is_valid()
    return form


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("prof@ecole.example", "prof@ecole.example"),
        ("  prof@ecole.example ", "prof@ecole.example"),
        ("prof@École.Example", "prof@xn--cole-9oa.example"),
        ("prof@exämple.fr", "prof@xn--exmple-cua.fr"),
        ("info@пример.рф", "info@xn--e1afmkfd.xn--p1ai"),
    ],
)
def test_an_accepted_address_is_cleaned_to_the_policy_form(value, expected):
    form = cleaned(address=value)
    assert form.errors == {}
    assert form.cleaned_data["address"] == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '"a<b>c"@example.com',
            '« "a<b>c"@example.com » : la partie avant « @ » ne peut contenir que '
            "des lettres sans accent, des chiffres, des points et ces signes : "
            "!#$%&'*+/=?^_`{|}~-",
        ),
        ("prof@", "« prof@ » n'est pas une adresse électronique."),
        (
            "prof@[10.0.0.1]",
            "« prof@[10.0.0.1] » : une adresse IP n'est pas acceptée comme domaine.",
        ),
        (
            "prof@localhost",
            "« prof@localhost » : le domaine « localhost » n'est pas valide.",
        ),
    ],
)
def test_a_refused_address_gives_the_policy_reason_in_french(value, message):
    form = cleaned(address=value)
    assert form.errors == {"address": [message]}
    assert form.errors.as_data()["address"][0].code == "invalid"


def test_an_address_django_alone_would_take_is_refused():
    # Django's EmailField takes quoted local parts; the builder cannot write them.
    quoted = '"a<b>c"@example.com'
    assert forms.EmailField().clean(quoted) == quoted
    assert "address" in cleaned(address=quoted).errors


def test_an_empty_optional_field_is_empty_and_a_required_one_is_required():
    form = cleaned(address="")
    assert form.errors == {"address": ["Ce champ est obligatoire."]}
    assert cleaned(address="a@example.fr").cleaned_data["optional"] == ""


def test_the_field_renders_as_an_email_input_of_the_policy_length():
    html = str(AddressForm()["address"])
    assert 'type="email"' in html
    assert 'maxlength="254"' in html
