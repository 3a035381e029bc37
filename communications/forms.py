"""Forms check the shape of input; the rules across fields live in services."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from spheres.forms import SendableEmailField
from spheres.models import Evaluation, Group, Sphere

from . import crypto
from .models import REMINDER_CRITERIA, SHORT_KIND_LABELS, Communication
from .rendering import DEFAULT_TEXTS, PLACEHOLDER_LABELS, PLACEHOLDERS

WEEKDAY_CHOICES = [
    (0, _("Lundi")),
    (1, _("Mardi")),
    (2, _("Mercredi")),
    (3, _("Jeudi")),
    (4, _("Vendredi")),
    (5, _("Samedi")),
    (6, _("Dimanche")),
]
FREQUENCY_CHOICES = [
    ("once", _("Envoi unique")),
    ("daily", _("Envoi régulier : tous les jours")),
    ("weekly", _("Envoi régulier : chaque semaine, les jours choisis")),
    ("monthly", _("Envoi régulier : chaque mois, le jour choisi")),
]

HOLIDAY_ACTION_CHOICES = [
    (Communication.HolidayPolicy.SKIP.value, _("Sauter l'envoi")),
    (Communication.HolidayPolicy.MOVE.value, _("Reporter au jour ouvré suivant")),
]
# Form fields that show a service error keyed by a model field.
FORM_FIELD_OF = {"holiday_policy": "holiday_action"}


class EvaluationSelect(forms.Select):
    """Each evaluation says which groups have a window (``data-groups``): choosing it
    ticks them (js/communication-form.js)."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        evaluation = getattr(option["value"], "instance", None)
        if evaluation is not None:
            option["attrs"]["data-groups"] = " ".join(
                str(window.group_id) for window in evaluation.windows.all()
            )
        return option


class CommunicationForm(forms.Form):
    """One form for the three types; fields of other types are removed in ``__init__``."""

    name = forms.CharField(label=_("Nom de la communication"), max_length=200)
    # Written into every message's Reply-To: the platform's address policy.
    reply_to = SendableEmailField(
        label=_("Votre adresse électronique"),
        help_text=_("Les réponses des utilisateurs arriveront à cette adresse."),
    )
    evaluation = forms.ModelChoiceField(
        label=_("Évaluation"),
        queryset=Evaluation.objects.none(),
        empty_label=None,
        widget=EvaluationSelect,
    )
    password = forms.CharField(
        label=_("Mot de passe"),
        required=False,
        max_length=128,
        strip=False,
        # Never rendered back, not even after an error: the page would hold it in
        # clear. Between the steps of one save (preview, confirmation) it travels
        # encrypted and signed instead (KEPT_PASSWORD_FIELD).
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Précisez le mot de passe de première connexion, le même pour tous. "
            "Il n'est pas pré-rempli : saisissez-le. Les utilisateurs pourront le "
            "personnaliser ensuite."
        ),
    )
    # Reminder criteria
    max_minutes = forms.IntegerField(
        label=_("Temps passé inférieur à (minutes)"),
        required=False,
        min_value=1,
        max_value=100000,
    )
    minutes_days = forms.IntegerField(
        label=_("au cours des derniers (jours)"),
        required=False,
        min_value=1,
        max_value=365,
    )
    max_level = forms.IntegerField(
        label=_("Niveau inférieur à (%)"), required=False, min_value=1, max_value=100
    )
    min_level = forms.IntegerField(
        label=_("Niveau d'au moins (%)"), required=False, min_value=0, max_value=100
    )
    never_started = forms.BooleanField(
        label=_("N'ont jamais commencé leur entraînement"), required=False
    )
    inactive_days = forms.IntegerField(
        label=_("Sans aucune activité depuis (jours)"),
        required=False,
        min_value=1,
        max_value=365,
    )
    # Reminders: a summary every Monday to the reply-to address.
    weekly_digest = forms.BooleanField(
        label=_("M'envoyer chaque lundi un bilan de cette relance"),
        required=False,
        help_text=_(
            "Chaque lundi à 8 h 00, un message à l'adresse de « Votre adresse "
            "électronique » : le nombre d'utilisateurs relancés la semaine passée et "
            "combien ont repris l'entraînement."
        ),
    )
    # Audience
    groups = forms.ModelMultipleChoiceField(
        label=_("Groupes destinataires"),
        queryset=Group.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    # Message
    subject = forms.CharField(label=_("Objet"), max_length=250)
    message = forms.CharField(
        label=_("Message"), widget=forms.Textarea(attrs={"rows": 14})
    )
    # Frequency
    frequency = forms.ChoiceField(
        label=_("Fréquence"),
        choices=FREQUENCY_CHOICES,
        widget=forms.RadioSelect,
        initial="once",
    )
    start_date = forms.DateField(
        label=_("Date de début"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    send_time = forms.TimeField(
        label=_("Heure d'envoi"),
        initial=dt.time(8, 0),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Jours de la semaine"),
        choices=WEEKDAY_CHOICES,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    month_day = forms.IntegerField(
        label=_("Jour du mois"),
        required=False,
        min_value=1,
        max_value=31,
        help_text=_(
            "Les mois qui n'ont pas ce jour, l'envoi a lieu le dernier jour du mois."
        ),
    )
    end_date = forms.DateField(
        label=_("Date de fin (facultative)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    # The school calendar (recurring sends): both map to ``holiday_policy``.
    holiday_skip = forms.BooleanField(
        label=_("Ne pas envoyer pendant les vacances scolaires ni les jours fériés"),
        required=False,
    )
    holiday_action = forms.ChoiceField(
        label=_("Un jour de vacances ou férié"),
        choices=HOLIDAY_ACTION_CHOICES,
        initial=Communication.HolidayPolicy.SKIP,
        required=False,
        widget=forms.RadioSelect,
        help_text=_(
            "Reporté, l'envoi part le jour ouvré suivant (ni samedi, ni dimanche, ni "
            "vacances, ni férié), à la même heure ; s'il y a déjà un envoi ce jour-là, "
            "un seul part."
        ),
    )

    REMINDER_FIELDS = REMINDER_CRITERIA
    # The hidden input that carries the typed password, encrypted with
    # FIELD_ENCRYPTION_KEYS then signed for this form, from one step of a save to the
    # next (preview, test, « Pourquoi ? », confirmation); how long it stays good.
    KEPT_PASSWORD_FIELD = "mot_de_passe_conserve"  # noqa: S105 - a field name
    KEPT_PASSWORD_MAX_AGE = 2 * 3600  # seconds

    @property
    def groups_field(self) -> forms.ModelMultipleChoiceField:
        return cast(forms.ModelMultipleChoiceField, self.fields["groups"])

    def __init__(
        self,
        data: Any = None,
        *,
        sphere: Sphere,
        kind: str,
        instance: Communication | None = None,
        initial: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.sphere = sphere
        self.kind = kind
        self.instance = instance
        initial = initial or {}
        if instance is None:
            subject, message = DEFAULT_TEXTS[kind]
            base = {
                "subject": str(subject),
                "message": str(message),
                # Nothing leaves by surprise: a new communication starts tomorrow
                # at 8 h 00 in the sphere's time zone (send_time's initial).
                "start_date": timezone.localdate(timezone=sphere.tzinfo)
                + dt.timedelta(days=1),
            }
            if kind == Communication.Kind.REMINDER:
                base.update(max_minutes=15, minutes_days=7, max_level=75)
                # A reminder during the holidays is noise: not sent, unless unticked.
                base.update(holiday_skip=True)
            initial = {**base, **initial}
        if "holiday_policy" in initial:  # an edit or a copy
            policy = initial["holiday_policy"]
            initial = {
                **initial,
                "holiday_skip": bool(policy),
                "holiday_action": policy or Communication.HolidayPolicy.SKIP,
            }
        super().__init__(data, initial=initial, **kwargs)
        self.groups_field.queryset = Group.objects.filter(sphere=sphere).order_by(
            "name"
        )
        evaluations = Evaluation.objects.filter(sphere=sphere).prefetch_related(
            "windows"
        )
        cast(forms.ModelChoiceField, self.fields["evaluation"]).queryset = evaluations
        if kind != Communication.Kind.EVALUATION:
            del self.fields["evaluation"]
        elif not self.is_bound and instance is None and "groups" not in initial:
            # A new announcement starts with the groups of its evaluation ticked.
            first = evaluations.first()
            if first is not None:
                self.initial["groups"] = [w.group_id for w in first.windows.all()]
        if kind != Communication.Kind.ANNOUNCEMENT:
            del self.fields["password"]
        elif instance is not None and instance.has_password:
            self.fields["password"].label = _("Nouveau mot de passe (facultatif)")
            self.fields["password"].help_text = _(
                "Un mot de passe est enregistré ; il n'est jamais réaffiché. "
                "Laisser vide pour garder le mot de passe actuel, ou en saisir un "
                "nouveau pour le remplacer."
            )
        elif instance is None and not self.kept_password():
            # A new announcement always has its password typed (the guide: it is
            # never pre-filled).
            self.fields["password"].required = True
        if kind != Communication.Kind.REMINDER:
            for field in self.REMINDER_FIELDS:
                del self.fields[field]
            del self.fields["weekly_digest"]

    def _kept_password_salt(self) -> str:
        # Good for this form only: the same sphere, type and communication.
        pk = self.instance.pk if self.instance is not None else "new"
        return f"communications.password:{self.sphere.pk}:{self.kind}:{pk}"

    def kept_password(self) -> str:
        """The password carried from the previous step, or "" when there is none
        (or it is too old, or was made for another form)."""
        signed = self.data.get(self.KEPT_PASSWORD_FIELD, "") if self.is_bound else ""
        if not signed:
            return ""
        try:
            token = signing.loads(
                signed,
                salt=self._kept_password_salt(),
                max_age=self.KEPT_PASSWORD_MAX_AGE,
            )
            return crypto.decrypt(token)
        except (signing.BadSignature, crypto.UnreadableToken):
            return ""

    def password_to_keep(self) -> str:
        """The value of the hidden input that carries the password of a valid form to
        the next step: encrypted, then signed for this form; "" when there is none."""
        if not self.is_bound or self.errors:
            return ""
        password = self.cleaned_data.get("password", "")
        if not password:
            return ""
        return signing.dumps(crypto.encrypt(password), salt=self._kept_password_salt())

    def ask_password_again(self) -> None:
        """After an error the page is shown again without the password: if one was
        typed (or carried), say that it must be typed again."""
        if "password" not in self.fields or "password" in self.errors:
            return
        if self.data.get(self.add_prefix("password")) or self.kept_password():
            self.add_error(
                "password",
                _(
                    "Saisissez à nouveau le mot de passe : pour votre sécurité, "
                    "il n'est jamais réaffiché."
                ),
            )

    def clean_password(self) -> str:
        # Left blank: the password carried from the previous step, if any (on an
        # edit, none means the stored one is kept).
        return self.cleaned_data["password"] or self.kept_password()

    def clean_subject(self) -> str:
        return self.cleaned_data["subject"].strip()

    def clean(self) -> dict[str, Any]:
        """The rules of the service too, on whatever was valid: all the errors at once
        (an empty subject must not hide an unknown placeholder in the message)."""
        from .services import communication_errors

        cleaned = super().clean() or {}
        candidate = Communication(sphere=self.sphere, kind=self.kind)
        for field, value in self._service_values(cleaned).items():
            setattr(candidate, field, value)
        password_set = bool(cleaned.get("password")) or bool(
            self.instance is not None and self.instance.has_password
        )
        errors = communication_errors(
            candidate,
            groups=list(cleaned.get("groups") or []),
            password_set=password_set,
        )
        for field, messages in errors.items():
            field = FORM_FIELD_OF.get(field, field)
            if field == "__all__" or field not in self.fields:
                self.add_error(None, messages)
            elif field not in self.errors:
                self.add_error(field, messages)
        if self.errors:
            self.ask_password_again()
        return cleaned

    def clean_start_date(self) -> dt.date:
        start = self.cleaned_data["start_date"]
        today = timezone.localdate(timezone=self.sphere.tzinfo)
        unchanged = self.instance is not None and self.instance.start_date == start
        if start < today and not unchanged:
            raise forms.ValidationError(_("La date de début ne peut pas être passée."))
        return start

    def service_data(self) -> dict[str, Any]:
        """The cleaned data in the shape ``communication_create``/``update`` expect."""
        return self._service_values(self.cleaned_data)

    @staticmethod
    def _service_values(cleaned: dict[str, Any]) -> dict[str, Any]:
        data = {
            k: v
            for k, v in cleaned.items()
            if k
            not in ("groups", "password", "weekdays", "holiday_skip", "holiday_action")
        }
        data["weekdays"] = sum(1 << day for day in cleaned.get("weekdays") or [])
        if cleaned.get("holiday_skip"):
            data["holiday_policy"] = (
                cleaned.get("holiday_action") or Communication.HolidayPolicy.SKIP
            )
        else:
            data["holiday_policy"] = Communication.HolidayPolicy.IGNORE
        return data

    @property
    def placeholders(self) -> list[tuple[str, object]]:
        return placeholder_choices(self.kind)


def placeholder_choices(kind: str) -> list[tuple[str, object]]:
    """The placeholders of a type, each with its French label, in the form's order."""
    return [(name, PLACEHOLDER_LABELS[name]) for name in PLACEHOLDERS[kind]]


class CommunicationFilterForm(forms.Form):
    """Search and filters of the communications list (a GET form)."""

    q = forms.CharField(label=_("Rechercher par nom"), required=False, max_length=200)
    etat = forms.ChoiceField(
        label=_("État"),
        required=False,
        choices=[("", _("Tous")), *Communication.State.choices],
    )
    type = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=[
            ("", _("Tous")),
            *((kind, label) for kind, label in SHORT_KIND_LABELS.items()),
        ],
    )

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {}
        return {
            "search": self.cleaned_data["q"],
            "state": self.cleaned_data["etat"],
            "kind": self.cleaned_data["type"],
        }
