"""The « Communications » tab: list, create (three types), edit, duplicate, deactivate,
preview and test send. Every view fetches the sphere through the user's spheres (404 for
anyone else) and the communication inside that sphere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from csp.decorators import csp_update
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
)

from spheres.models import Group, Learner, Sphere
from spheres.selectors import learner_find, learner_get
from spheres.services import learner_reminders_unsubscribe
from spheres.views import render_tab, request_user, sphere_for
from voltaire_comms.pagination import paginate

from . import charts, rendering, selectors, sending, services
from .effectiveness import CACHE_SECONDS, DAYS, SENDS_SHOWN, reminder_effectiveness
from .forms import (
    CommunicationFilterForm,
    CommunicationForm,
    placeholder_choices,
)
from .models import Communication, Delivery, Send, field_label
from .rendering import PREVIEW_CSP
from .sending import schedule_change
from .sending.digest import digest_next
from .unsubscribe import unsubscribe_read

_View = TypeVar("_View", bound=Callable[..., HttpResponse])

COMMUNICATIONS_PER_PAGE = 50
DELIVERIES_PER_PAGE = 100


def _shows_an_email(view: _View) -> _View:
    """The page shows an e-mail: its policy allows the e-mail's fixed inline styles."""
    return cast(_View, csp_update(PREVIEW_CSP)(cast(Any, view)))


def _kind_or_404(kind: str) -> str:
    if kind not in Communication.Kind.values:
        raise Http404
    return kind


@login_required
@require_GET
def communication_list(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    filter_form = CommunicationFilterForm(request.GET)
    filters = filter_form.filters()
    communications = selectors.communications_for_sphere(sphere=sphere, **filters)
    page, filters_query = paginate(communications, COMMUNICATIONS_PER_PAGE, request.GET)
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/list.html",
        {
            "rows": selectors.communication_rows(page.object_list),
            "page": page,
            "filters_query": filters_query,
            "filter_form": filter_form,
            "is_filtered": any(filters.values()),
        },
    )


@login_required
@require_GET
def communication_choose_kind(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/choose_kind.html",
        {
            "kinds": Communication.Kind.choices,
        },
    )


@login_required
@require_GET
def communication_help(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/help.html",
        {
            "kinds": [
                (value, label, placeholder_choices(value))
                for value, label in Communication.Kind.choices
            ],
        },
    )


def _audience_context(form: CommunicationForm) -> dict:
    sphere_groups = list(form.groups_field.queryset or ())
    return {
        "sphere_has_groups": bool(sphere_groups),
        # Counted once with the page, not at each change of the live summary: it
        # depends on the sphere only.
        "ungrouped": (
            selectors.ungrouped_count(sphere=sphere_groups[0].sphere)
            if sphere_groups
            else 0
        ),
    }


@_shows_an_email
@login_required
@never_cache  # its preview can show the password
@require_http_methods(["GET", "POST"])
def communication_create(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    kind = _kind_or_404(kind)
    source = None
    if copy_of := request.GET.get("copie"):
        if not copy_of.isdigit():
            raise Http404
        source = selectors.communication_get(sphere=sphere, pk=int(copy_of))
        if source.kind != kind:
            raise Http404
        initial = selectors.communication_initial(source, copy=True)
    else:
        # Replies come to the administrator unless they give another address.
        initial = {"reply_to": request_user(request).email}
    form = CommunicationForm(
        request.POST or None, sphere=sphere, kind=kind, initial=initial
    )
    return _communication_form(request, sphere, form, source=source)


@_shows_an_email
@login_required
@never_cache  # its preview can show the password
@require_http_methods(["GET", "POST"])
def communication_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    if communication.is_deactivated and request.method == "POST":
        messages.error(
            request,
            _("Cette communication est désactivée : elle ne peut plus être modifiée."),
        )
        return redirect("communications:detail", slug=sphere.slug, pk=pk)
    form = CommunicationForm(
        request.POST or None,
        sphere=sphere,
        kind=communication.kind,
        instance=communication,
        initial=selectors.communication_initial(communication),
    )
    if communication.is_deactivated:
        for field in form.fields.values():
            field.disabled = True
    return _communication_form(request, sphere, form, communication=communication)


def _communication_form(
    request: HttpRequest,
    sphere: Sphere,
    form: CommunicationForm,
    *,
    communication: Communication | None = None,
    source: Communication | None = None,
) -> HttpResponse:
    """The form of a new or edited communication. Its buttons: « Enregistrer »
    (through a confirmation when the first send would leave within ten minutes),
    « Afficher l'aperçu » and « Envoyer un test » (on the values typed, nothing
    saved)."""
    action = request.POST.get("action", "enregistrer")
    context: dict[str, Any] = {}
    if request.method == "POST" and form.is_valid():
        draft = _Draft(request, sphere, form, communication)
        if action == "pourquoi":
            context.update(draft.explain(request.POST.get("apercu_pour", "")))
        elif action in ("apercu", "reveler", "test"):
            context.update(
                draft.preview(
                    request.POST.get("apercu_pour", ""), reveal=action == "reveler"
                )
            )
            if action == "test" and context.get("preview_learner") is not None:
                sent = services.communication_send_test(
                    communication=draft.candidate,
                    actor=request_user(request),
                    learner=context["preview_learner"],
                    group_ids=draft.group_ids,
                    password=draft.password,
                )
                context["test_sent"] = sent
        else:
            try:
                saved = draft.save(confirmed=request.POST.get("confirmer") == "1")
            except services.SendNeedsConfirmation as pending:
                context.update(draft.preview(""))
                context["confirmation"] = {
                    "when": pending.next_send_at,
                    "recipients": draft.summary().reach,
                }
            except services.CommunicationDeactivated as exc:
                # only an edited communication can have been deactivated meanwhile
                assert communication is not None  # noqa: S101
                messages.error(request, str(exc))
                return redirect(
                    "communications:detail", slug=sphere.slug, pk=communication.pk
                )
            except ValidationError as exc:
                form.add_error(None, exc)
                form.ask_password_again()
            else:
                messages.success(
                    request,
                    _(
                        "Modifications enregistrées : elles s'appliquent aux prochains "
                        "envois."
                    )
                    if communication
                    else _("La communication « %(name)s » est enregistrée.")
                    % {"name": saved.name},
                )
                return redirect("communications:detail", slug=sphere.slug, pk=saved.pk)
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/form.html",
        {
            "form": form,
            "communication": communication,
            "read_only": bool(communication and communication.is_deactivated),
            "kind_label": Communication.Kind(form.kind).label,
            "source": source,
            "preview_for": request.POST.get("apercu_pour", ""),
            # The typed password, encrypted and signed, for the next step of a valid
            # form (never the password itself: the field is always blank).
            "password_kept": form.password_to_keep(),
            **_audience_context(form),
            **context,
        },
    )


def _masked_preview(
    *, reveal: bool, **kwargs: Any
) -> tuple[rendering.PreparedMessage, rendering.RenderedMessage | None, str]:
    """``services.message_preview`` for the screen: the password masked unless
    ``reveal``. The last value says what the page offers: "masked" (« Afficher le mot
    de passe »), "revealed" (« Masquer le mot de passe ») or "" (no password in it)."""
    prepared, message = services.message_preview(mask_password=True, **kwargs)
    masked = message is not None and rendering.PASSWORD_MASK in (
        message.subject + message.text
    )
    if not masked:
        return prepared, message, ""
    if not reveal:
        return prepared, message, "masked"
    prepared, message = services.message_preview(**kwargs)
    return prepared, message, "revealed"


class _Draft:
    """The values of a valid form, not saved: what the preview, the test, the
    confirmation and the save work on."""

    def __init__(
        self,
        request: HttpRequest,
        sphere: Sphere,
        form: CommunicationForm,
        communication: Communication | None,
    ) -> None:
        self.request, self.sphere, self.form = request, sphere, form
        self.communication = communication
        self.groups = list(form.cleaned_data["groups"])
        self.group_ids = tuple(group.pk for group in self.groups)
        typed = form.cleaned_data.get("password", "")
        # A password left blank on an edit keeps the stored one.
        self.password = typed or None
        self.candidate = services.communication_candidate(
            sphere=sphere,
            kind=form.kind,
            data=form.service_data(),
            instance=communication,
        )

    def spec(self) -> selectors.AudienceSpec:
        return selectors.AudienceSpec.of(self.candidate, self.group_ids)

    def summary(self) -> selectors.AudienceSummary:
        return selectors.audience_summary(self.spec())

    def preview(self, wanted: str, *, reveal: bool = False) -> dict[str, Any]:
        """The message as one learner gets it: the one asked for (name or identifiant),
        else the first who will receive it; its password masked unless ``reveal``."""
        if wanted.strip():
            learner = learner_find(sphere=self.sphere, text=wanted)
            if learner is None:
                return {"preview_not_found": True, "preview_asked": wanted}
        else:
            sample = self.summary().sample
            if not sample:
                return {"preview_nobody": True}
            learner = sample[0]
        prepared, message, password = _masked_preview(
            reveal=reveal,
            communication=self.candidate,
            learner=learner,
            group_ids=self.group_ids,
            password=self.password,
        )
        return {
            "preview_learner": learner,
            "preview_asked": wanted,
            "preview_message": message,
            "preview_from": prepared.from_email,
            "preview_reply_to": self.candidate.reply_to,
            "preview_password": password,
        }

    def explain(self, wanted: str) -> dict[str, Any]:
        """« Pourquoi ? » for the learner asked for (or the first of the sphere)."""
        learner = (
            learner_find(sphere=self.sphere, text=wanted)
            if wanted.strip()
            else (self.sphere.learners.order_by("last_name", "first_name").first())
        )
        if learner is None:
            return {"preview_not_found": True, "preview_asked": wanted}
        return {
            "explanation": selectors.audience_explain(
                self.spec(), learner, communication=self.communication
            )
        }

    def save(self, *, confirmed: bool) -> Communication:
        data = self.form.service_data()
        if self.communication is not None:
            return services.communication_update(
                communication=self.communication,
                actor=request_user(self.request),
                data=data,
                groups=self.groups,
                password=self.password or "",
                confirmed=confirmed,
            )
        copy_of = self.request.GET.get("copie")
        return services.communication_create(
            sphere=self.sphere,
            actor=request_user(self.request),
            kind=self.form.kind,
            data=data,
            groups=self.groups,
            password=self.password or "",
            duplicated_from=selectors.communication_get(
                sphere=self.sphere, pk=int(copy_of)
            )
            if copy_of and copy_of.isdigit()
            else None,
            confirmed=confirmed,
        )


@login_required
@require_GET
def communication_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    asked = request.GET.get("pourquoi", "").strip()[:200]
    explanation, not_found = None, False
    if asked:
        learner = learner_find(sphere=sphere, text=asked)
        not_found = learner is None
        if learner is not None:
            explanation = selectors.audience_explain(
                selectors.AudienceSpec.of(communication),
                learner,
                communication=communication,
            )
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/detail.html",
        {
            "asked": asked,
            "explanation": explanation,
            "not_found": not_found,
            "communication": communication,
            "row": selectors.communication_rows([communication])[0],
            "upcoming": selectors.communication_upcoming(communication),
            "events": _events(communication),
            "sends": _sends_with_counts(communication),
            "digests": _digests(communication),
            "next_digest": digest_next(communication, timezone.now()),
            "schedule_changed": len(
                schedule_change.schedule_change_concerned(communication)
            ),
        },
    )


@login_required
@require_GET
def communication_effectiveness(
    request: HttpRequest, slug: str, pk: int
) -> HttpResponse:
    """« Les relances ont-elles fonctionné ? »: a reminder's sends and what its learners
    did around them (communications/effectiveness.py), as a chart and a table."""
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    if communication.kind != Communication.Kind.REMINDER:
        raise Http404
    result = reminder_effectiveness(communication)
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/effectiveness.html",
        {
            "communication": communication,
            "result": result,
            "days": DAYS,
            "shown": SENDS_SHOWN,
            "cache_minutes": CACHE_SECONDS // 60,
            "chart": charts.effectiveness_chart(result, title_id="chart-title")
            if result.sends
            else "",
            "rows": [
                (
                    effect,
                    charts.figures_display(effect.reminded),
                    charts.figures_display(effect.others),
                )
                for effect in result.sends
            ],
        },
    )


def _events(communication: Communication) -> list[tuple[Any, list[str], str]]:
    """The last 50 events of the history, each with the labels of the fields it
    changed and, for a test, the learner it was rendered for (« utilisateur
    supprimé » once that learner is erased)."""
    events = list(communication.events.select_related("actor")[:50])
    ids = {e.details["learner_id"] for e in events if "learner_id" in e.details}
    names = dict(
        Learner.objects.filter(pk__in=ids).values_list("pk", "identifiant")
        if ids
        else ()
    )
    return [
        (
            event,
            [field_label(f) for f in event.details.get("fields", [])],
            names.get(event.details["learner_id"], _("utilisateur supprimé"))
            if "learner_id" in event.details
            else "",
        )
        for event in events
    ]


def _sends_with_counts(communication: Communication) -> list[tuple]:
    """The communication's own sends: its weekly digests are listed apart."""
    sends = list(
        selectors.communication_history(communication).exclude(
            purpose=Send.Purpose.DIGEST
        )[:50]
    )
    counts = selectors.send_counts(sends)
    return [(send, counts[send.pk]) for send in sends]


def _digests(communication: Communication) -> list[tuple[Send, Delivery | None]]:
    """A reminder's last weekly digests, each with its one message (two queries)."""
    if communication.kind != Communication.Kind.REMINDER:
        return []
    sends = list(communication.sends.filter(purpose=Send.Purpose.DIGEST)[:10])
    rows = {d.send_id: d for d in Delivery.objects.filter(send__in=sends)}
    return [(send, rows.get(send.pk)) for send in sends]


@login_required
@require_GET
def communication_send_detail(
    request: HttpRequest, slug: str, pk: int, send_id: int
) -> HttpResponse:
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    send = get_object_or_404(communication.sends, pk=send_id)
    deliveries = send.deliveries.order_by(
        "status", "last_name", "first_name", "identifiant"
    )
    if status := request.GET.get("resultat"):
        deliveries = deliveries.filter(status=status)
    page, filters_query = paginate(deliveries, DELIVERIES_PER_PAGE, request.GET)
    capped = [d for d in page if d.reason == Delivery.Reason.ALREADY_REMINDED]
    if capped:
        names = selectors.reminded_by_names(send, (d.learner_id for d in capped))
        for delivery in capped:
            delivery.reminded_by = names.get(delivery.learner_id, "")
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/send_detail.html",
        {
            "communication": communication,
            "send": send,
            "counts": selectors.send_counts([send])[send.pk],
            "page": page,
            "statuses": Delivery.Status.choices,
            "status_filter": status or "",
            "filters_query": filters_query,
        },
    )


@login_required
@require_POST
def communication_send_retry(
    request: HttpRequest, slug: str, pk: int, send_id: int
) -> HttpResponse:
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    send = get_object_or_404(communication.sends, pk=send_id)
    if communication.is_deactivated:
        messages.error(
            request, _("Cette communication est désactivée : rien n'est renvoyé.")
        )
    else:
        count = sending.deliveries_retry_failed(send=send, actor=request_user(request))
        messages.success(
            request,
            _("%(count)d message(s) en échec remis en file d'envoi.")
            % {"count": count},
        )
    return redirect(
        "communications:send_detail", slug=sphere.slug, pk=pk, send_id=send_id
    )


@_shows_an_email
@login_required
@require_http_methods(["GET", "POST"])
def communication_schedule_change(
    request: HttpRequest, slug: str, pk: int
) -> HttpResponse:
    """GET: the « changement d'horaire » to confirm (how many learners, one message
    as it will be received); POST: send it. Nothing is sent without the POST."""
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    if request.method == "POST":
        send = schedule_change.schedule_change_send(
            communication=communication, actor=request_user(request)
        )
        if send is None:
            messages.info(
                request,
                _("Aucun utilisateur n'est concerné par un changement d'horaire."),
            )
            return redirect("communications:detail", slug=sphere.slug, pk=pk)
        messages.success(request, _("Le changement d'horaire est en cours d'envoi."))
        return redirect(
            "communications:send_detail", slug=sphere.slug, pk=pk, send_id=send.pk
        )
    concerned = schedule_change.schedule_change_concerned(communication)
    context: dict[str, Any] = {"communication": communication, "concerned": concerned}
    if concerned:
        prepared, message = schedule_change.schedule_change_preview(
            communication, concerned[0]
        )
        context.update(
            learner=concerned[0], message=message, from_email=prepared.from_email
        )
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/schedule_change.html",
        context,
    )


@login_required
@require_GET
def communication_duplicate(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    url = reverse(
        "communications:create",
        kwargs={"slug": sphere.slug, "kind": communication.kind},
    )
    return redirect(f"{url}?copie={communication.pk}")


@login_required
@require_http_methods(["GET", "POST"])
def communication_deactivate(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """GET: a confirmation page (used when the dialog can't open); POST: deactivate."""
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    if request.method == "POST":
        services.communication_deactivate(
            communication=communication, actor=request_user(request)
        )
        messages.success(
            request,
            _(
                "La communication « %(name)s » est désactivée. Elle ne sera plus envoyée."
            )
            % {"name": communication.name},
        )
        return redirect("communications:list", slug=sphere.slug)
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/deactivate.html",
        {
            "communication": communication,
        },
    )


@_shows_an_email
@login_required
@require_GET
@never_cache  # the password, once revealed, must not stay in a cache
def communication_preview(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The message as one learner receives it: by default the first who will receive
    it; any learner of the sphere by name or identifiant, with « Pourquoi ? » below
    when that learner would receive nothing."""
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    spec = selectors.AudienceSpec.of(communication)
    asked = request.GET.get("utilisateur", "").strip()[:200]
    if asked:
        learner = learner_find(sphere=sphere, text=asked)
    else:
        sample = selectors.audience_summary(spec, sample_size=1).sample
        learner = sample[0] if sample else None
    message, from_email, explanation, password = None, "", None, ""
    reveal_url = hide_url = ""
    if learner is not None:
        prepared, message, password = _masked_preview(
            reveal=request.GET.get("reveal") == "1",
            communication=communication,
            learner=learner,
        )
        from_email = prepared.from_email
        explanation = selectors.audience_explain(
            spec, learner, communication=communication
        )
        # The same learner, the password revealed or masked again (links that work
        # without JavaScript; js/preview-password.js swaps the preview in place).
        hide_url = "?" + urlencode({"utilisateur": asked or learner.identifiant})
        reveal_url = f"{hide_url}&reveal=1"
    return render_tab(
        request,
        sphere,
        "communications",
        "communications/preview.html",
        {
            "communication": communication,
            "asked": asked,
            "learner": learner,
            "message": message,
            "from_email": from_email,
            "explanation": explanation,
            "password": password,
            "reveal_url": reveal_url,
            "hide_url": hide_url,
        },
    )


@login_required
@never_cache
@require_POST
def communication_send_test(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sphere = sphere_for(request, slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    learner_id = request.POST.get("learner", "")
    url = reverse("communications:preview", kwargs={"slug": sphere.slug, "pk": pk})
    if not learner_id.isdigit():
        messages.error(request, _("Choisissez d'abord l'utilisateur du test."))
        return redirect(url)
    learner = learner_get(sphere=sphere, learner_id=int(learner_id))
    sent = services.communication_send_test(
        communication=communication, actor=request_user(request), learner=learner
    )
    if sent:
        messages.success(
            request,
            _("Un test, tel que le recevra %(learner)s, a été envoyé à %(email)s.")
            % {"learner": learner, "email": request_user(request).email},
        )
    else:
        messages.error(
            request,
            _(
                "Cet utilisateur n'a pas de créneau à venir pour cette évaluation dans "
                "les groupes choisis : il ne recevrait rien."
            ),
        )
    return redirect(f"{url}?{urlencode({'utilisateur': learner.identifiant})}")


@login_required
@require_POST
def communication_audience(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """The live recipients summary of the form being filled (a fragment)."""
    sphere = sphere_for(request, slug)
    kind = _kind_or_404(kind)
    form = CommunicationForm(request.POST, sphere=sphere, kind=kind)
    form.is_valid()  # partial input is normal here: use what is clean
    data = form.cleaned_data
    sphere_has_groups = Group.objects.filter(sphere=sphere).exists()
    spec = selectors.AudienceSpec.of_values(sphere, kind, data)
    incomplete = (sphere_has_groups and not spec.group_ids) or (
        kind == Communication.Kind.EVALUATION and spec.evaluation_id is None
    )
    summary = None if incomplete else selectors.audience_summary(spec)
    return render(
        request,
        "communications/includes/audience.html",
        {
            "summary": summary,
            "sphere_has_groups": sphere_has_groups,
            "today": timezone.localdate(timezone=sphere.tzinfo),
        },
    )


# --- Unsubscribe from reminders (public) ------------------------------------------------


# The one view without a login: the link of a reminder, opened by the learner or by
# their mail client. GET only shows the page: mail scanners and link previews fetch
# links, and must never unsubscribe anyone. POST unsubscribes: the page's button, or
# the one-click POST a mail client sends from the List-Unsubscribe-Post header (RFC
# 8058), which carries « List-Unsubscribe=One-Click » and neither cookie nor CSRF
# token. That is the only reason this view is exempt from CSRF: the signed token in
# the address stands for the learner, and the action is unsubscribing, nothing else.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = unsubscribe_read(token)
    learner = (
        Learner.objects.select_related("sphere")
        .filter(pk=subscriber.learner_id, sphere_id=subscriber.sphere_id)
        .first()
        if subscriber
        else None
    )
    if learner is None:
        return render(request, "communications/unsubscribe_invalid.html", status=404)
    if request.method == "POST":
        learner = learner_reminders_unsubscribe(
            learner_id=learner.pk, sphere_id=learner.sphere_id
        )
        if learner is None:  # deleted in the meantime
            return render(
                request, "communications/unsubscribe_invalid.html", status=404
            )
        done = True
    else:
        done = False
    return render(
        request,
        "communications/unsubscribe.html",
        {
            "sphere_name": learner.sphere.name,
            "unsubscribed": learner.unsubscribed_from_reminders_at is not None,
            "done": done,
        },
    )
