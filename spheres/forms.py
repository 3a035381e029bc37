"""Forms of the administrators' web app: the shape of input, scoped to a sphere.

Every choice of a group or a learner is limited to the sphere's own rows, so an id from
another sphere is a form error, never a change.
"""

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from voltaire_comms.widgets import PlainSelect

from .addresses import MAX_LENGTH, AddressRefused, address_normalize
from .models import (
    Evaluation,
    Group,
    HolidaySubdivision,
    Learner,
    SchoolZone,
    Sphere,
)

# The value of the group filter selecting learners without any group.
WITHOUT_GROUP = "sans-groupe"
# The value of the reminders filter selecting learners unsubscribed from them.
UNSUBSCRIBED = "desinscrits"

MAX_IMPORT_FILE_SIZE = 10 * 1024 * 1024


class SendableEmailField(forms.EmailField):
    """An address the platform sends to or from (a recipient, a Reply-To), under the one
    address policy (``spheres.addresses``): cleaned to the address as the platform
    writes it (a Unicode domain in IDNA, ``eleve@xn--exmple-cua.fr``), or refused with
    the policy's reason in French. Logins are not addresses to send to: they keep
    Django's ``EmailField``."""

    # The policy runs Django's own validate_email on its result.
    default_validators: list[Any] = []

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MAX_LENGTH)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        try:
            return address_normalize(value)
        except AddressRefused as refused:
            raise forms.ValidationError(str(refused), code="invalid") from None


class LearnerFilterForm(forms.Form):
    """Search and group filter of the learners list (a GET form)."""

    q = forms.CharField(label=_("Rechercher"), required=False, max_length=200)
    groupe = forms.ChoiceField(label=_("Groupe"), required=False, widget=PlainSelect)
    relances = forms.ChoiceField(
        label=_("Relances"),
        required=False,
        choices=[
            ("", _("Tous les utilisateurs")),
            (UNSUBSCRIBED, _("Désinscrits des relances")),
        ],
    )

    def __init__(self, *args: Any, sphere: Sphere, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups = {str(g.pk): g for g in sphere.groups.order_by("name")}
        self.fields["q"].widget.attrs.update(
            {
                "type": "search",
                "placeholder": _("Identifiant, nom, prénom ou adresse"),
            }
        )
        cast(forms.ChoiceField, self.fields["groupe"]).choices = [
            ("", _("Tous les groupes")),
            (WITHOUT_GROUP, _("Sans groupe")),
            *((pk, g.name) for pk, g in self.groups.items()),
        ]

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for ``selectors.learners_list``; invalid values ignored."""
        data = self.cleaned_data if self.is_valid() else {}
        choice = data.get("groupe", "")
        return {
            "search": data.get("q", ""),
            "group": self.groups.get(choice),
            "without_group": choice == WITHOUT_GROUP,
            "unsubscribed_only": data.get("relances") == UNSUBSCRIBED,
        }


class LearnerBulkForm(forms.Form):
    """Add the checked learners to a group, or take them out of it."""

    ADD = "ajouter"
    REMOVE = "retirer"

    learners = forms.ModelMultipleChoiceField(
        queryset=Learner.objects.none(),
        label=_("Utilisateurs"),
        error_messages={
            "required": _("Cochez au moins un utilisateur."),
            "invalid_choice": _(
                "Un des utilisateurs cochés n'appartient pas à cette sphère."
            ),
            "invalid_pk_value": _(
                "Un des utilisateurs cochés n'appartient pas à cette sphère."
            ),
        },
    )
    group = forms.ModelChoiceField(
        queryset=Group.objects.none(),
        label=_("Groupe"),
        empty_label=_("Choisissez un groupe"),
        widget=PlainSelect,
        error_messages={
            "required": _("Choisissez un groupe."),
            "invalid_choice": _("Ce groupe n'appartient pas à cette sphère."),
        },
    )
    action = forms.ChoiceField(
        choices=[(ADD, _("Ajouter au groupe")), (REMOVE, _("Retirer du groupe"))],
        error_messages={"required": _("Choisissez une action.")},
    )
    # The list's query string (search, filter, page), to come back to the same view.
    retour = forms.CharField(required=False, widget=forms.HiddenInput, max_length=500)

    def __init__(
        self,
        *args: Any,
        sphere: Sphere,
        groups: Iterable[Group] | None = None,
        **kwargs: Any,
    ) -> None:
        """``groups``: the sphere's groups by name when the page has read them already
        (the list's filter): the select shows them without reading them again."""
        super().__init__(*args, **kwargs)
        learners = cast(forms.ModelMultipleChoiceField, self.fields["learners"])
        learners.queryset = Learner.objects.filter(sphere=sphere)
        group = cast(forms.ModelChoiceField, self.fields["group"])
        group.queryset = Group.objects.filter(sphere=sphere).order_by("name")
        if groups is not None:
            group.widget.choices = [
                ("", group.empty_label),
                *((g.pk, g.name) for g in groups),
            ]
        self.fields["group"].widget.attrs["id"] = "id_bulk_group"

    def checked_ids(self) -> set[str]:
        """The learner ids as posted: their boxes stay checked when re-shown."""
        if isinstance(self.data, QueryDict):
            return set(self.data.getlist("learners"))
        return set()


class LearnerImportForm(forms.Form):
    fichier = forms.FileField(
        label=_("Fichier CSV"),
        error_messages={
            "required": _("Choisissez un fichier CSV."),
            "empty": _("Le fichier est vide."),
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fichier"].widget.attrs["accept"] = ".csv,text/csv"

    def clean_fichier(self) -> UploadedFile:
        file = self.cleaned_data["fichier"]
        if file.size > MAX_IMPORT_FILE_SIZE:
            raise forms.ValidationError(
                _("Le fichier dépasse %(max)s Mo."),
                params={"max": MAX_IMPORT_FILE_SIZE // (1024 * 1024)},
            )
        return file


class SphereSettingsForm(forms.Form):
    """The sphere's settings: its school calendar and the reminder cap."""

    school_zone = forms.ChoiceField(
        label=_("Vacances scolaires"),
        choices=SchoolZone.choices,
        required=False,
        help_text=_(
            "La zone dont la sphère suit les vacances scolaires. Une relance "
            "programmée peut ne pas partir pendant ces vacances."
        ),
    )
    holiday_subdivision = forms.ChoiceField(
        label=_("Jours fériés"),
        choices=HolidaySubdivision.choices,
        required=False,
        help_text=_(
            "Les jours fériés diffèrent en Alsace, en Moselle et en outre-mer."
        ),
    )
    one_reminder_per_day = forms.BooleanField(
        label=_("Au plus une relance par utilisateur et par jour"),
        required=False,
        help_text=_(
            "Un utilisateur visé par deux relances le même jour reçoit la première "
            "envoyée ; les autres enregistrent pour lui « déjà relancé aujourd'hui »."
        ),
    )

    def __init__(self, *args: Any, sphere: Sphere, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sphere = sphere

    @classmethod
    def of(cls, sphere: Sphere) -> "SphereSettingsForm":
        return cls(
            sphere=sphere,
            initial={
                "school_zone": sphere.school_zone,
                "holiday_subdivision": sphere.holiday_subdivision,
                "one_reminder_per_day": sphere.one_reminder_per_day,
            },
        )

    def clean_school_zone(self) -> str:
        zone = self.cleaned_data["school_zone"]
        if zone == SchoolZone.IMPORTED and not self.sphere.school_holidays.exists():
            raise forms.ValidationError(
                _(
                    "Aucun calendrier scolaire n'a été importé pour cette sphère : "
                    "choisissez une zone, ou demandez au support d'importer le "
                    "calendrier de votre académie."
                )
            )
        return zone


class GroupForm(forms.Form):
    name = forms.CharField(
        label=_("Nom du groupe"),
        max_length=200,
        error_messages={"required": _("Indiquez le nom du groupe.")},
    )


@dataclass(frozen=True)
class WindowRow:
    """The four fields of one group's window, for the template."""

    group: Group
    start_date: forms.BoundField
    start_time: forms.BoundField
    end_date: forms.BoundField
    end_time: forms.BoundField

    @property
    def fields(self) -> tuple[forms.BoundField, ...]:
        return (self.start_date, self.start_time, self.end_date, self.end_time)


class EvaluationForm(forms.Form):
    """An evaluation's name and, for each group of the sphere, an optional time window.

    Dates and times are wall-clock in the sphere's time zone; ``windows()`` returns them
    as aware datetimes. A group with its four fields empty is not assigned.

    With ``evaluation`` (an edit), the fields start from its name and windows; a window
    given back as it was shown keeps its exact instants (seconds, or the second of two
    identical wall-clock times when the clocks go back, are not shown).
    """

    name = forms.CharField(
        label=_("Nom de l'évaluation"),
        max_length=200,
        error_messages={"required": _("Indiquez le nom de l'évaluation.")},
    )

    _PARTS = ("debut_date", "debut_heure", "fin_date", "fin_heure")

    def __init__(
        self,
        *args: Any,
        sphere: Sphere,
        evaluation: Evaluation | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sphere = sphere
        self.groups = list(sphere.groups.order_by("name"))
        # The current windows of the evaluation edited, by group id.
        self._current: dict[int, tuple[dt.datetime, dt.datetime]] = (
            {
                window.group_id: (window.starts_at, window.ends_at)
                for window in evaluation.windows.all()
            }
            if evaluation is not None
            else {}
        )
        if evaluation is not None:
            self.initial = {**self._initial(evaluation), **self.initial}
        for group in self.groups:
            names = {
                "debut_date": _("Date de début"),
                "debut_heure": _("Heure de début"),
                "fin_date": _("Date de fin"),
                "fin_heure": _("Heure de fin"),
            }
            for part, label in names.items():
                if part.endswith("_date"):
                    field: forms.Field = forms.DateField(
                        label=label,
                        required=False,
                        widget=forms.DateInput(
                            attrs={"type": "date"}, format="%Y-%m-%d"
                        ),
                        error_messages={"invalid": _("Saisissez une date valide.")},
                    )
                else:
                    field = forms.TimeField(
                        label=label,
                        required=False,
                        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                        error_messages={"invalid": _("Saisissez une heure valide.")},
                    )
                self.fields[self._key(group, part)] = field

    @staticmethod
    def _key(group: Group, part: str) -> str:
        return f"groupe_{group.pk}_{part}"

    def _shown(self, starts_at: dt.datetime, ends_at: dt.datetime) -> list[Any]:
        """A window as its four fields show it: wall-clock dates and minutes."""
        starts, ends = (
            moment.astimezone(self.sphere.tzinfo) for moment in (starts_at, ends_at)
        )
        return [
            starts.date(),
            starts.time().replace(second=0, microsecond=0, fold=0),
            ends.date(),
            ends.time().replace(second=0, microsecond=0, fold=0),
        ]

    def _initial(self, evaluation: Evaluation) -> dict[str, Any]:
        initial: dict[str, Any] = {"name": evaluation.name}
        for group in self.groups:
            if group.pk in self._current:
                shown = self._shown(*self._current[group.pk])
                for part, value in zip(self._PARTS, shown, strict=True):
                    initial[self._key(group, part)] = value
        return initial

    def rows(self) -> Iterator[WindowRow]:
        for group in self.groups:
            yield WindowRow(
                group, *(self[self._key(group, part)] for part in self._PARTS)
            )

    def _aware(self, key: str, date: dt.date, time: dt.time) -> dt.datetime | None:
        """The wall-clock time in the sphere's zone, or ``None`` with an error if it
        does not exist that day (skipped by a daylight-saving change)."""
        local = dt.datetime.combine(date, time, tzinfo=self.sphere.tzinfo)
        round_trip = local.astimezone(dt.UTC).astimezone(self.sphere.tzinfo)
        if round_trip.replace(tzinfo=None) != local.replace(tzinfo=None):
            self.add_error(
                key,
                _("Cette heure n'existe pas ce jour-là (changement d'heure)."),
            )
            return None
        return local

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self._windows: list[tuple[Group, dt.datetime, dt.datetime]] = []
        for group in self.groups:
            keys = [self._key(group, part) for part in self._PARTS]
            if any(key in self.errors for key in keys):
                continue
            values = [cleaned.get(key) for key in keys]
            if all(value is None for value in values):
                continue
            current = self._current.get(group.pk)
            if current is not None and values == self._shown(*current):
                self._windows.append((group, *current))
                continue
            start_date, start_time, end_date, end_time = values
            if (
                start_date is None
                or start_time is None
                or end_date is None
                or end_time is None
            ):
                for key, value in zip(keys, values, strict=True):
                    if value is None:
                        self.add_error(
                            key, _("Complétez aussi ce champ, ou videz les quatre.")
                        )
                continue
            starts_at = self._aware(keys[0], start_date, start_time)
            ends_at = self._aware(keys[2], end_date, end_time)
            if starts_at is None or ends_at is None:
                continue
            if ends_at <= starts_at:
                self.add_error(keys[2], _("La fin doit être après le début."))
                continue
            self._windows.append((group, starts_at, ends_at))
        if not self.errors and not self._windows:
            raise forms.ValidationError(
                _("Indiquez les dates et heures d'au moins un groupe."),
                code="no_window",
            )
        return cleaned

    def windows(self) -> list[tuple[Group, dt.datetime, dt.datetime]]:
        return self._windows
