"""The « Communications » tab: list, create (three types), edit, duplicate, deactivate,
preview and test send. Every view fetches the sphere through the user's spheres (404 for
anyone else) and the communication inside that sphere."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
)

from spheres.models import Group
from spheres.selectors import sphere_get_for_user

from . import selectors, sending, services
from .forms import (
    CommunicationFilterForm,
    CommunicationForm,
    PreviewForm,
    placeholder_choices,
)
from .models import Communication, Delivery, field_label


def _kind_or_404(kind: str) -> str:
    if kind not in Communication.Kind.values:
        raise Http404
    return kind


@login_required
def communication_list(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    filter_form = CommunicationFilterForm(request.GET)
    filters = filter_form.filters()
    communications = selectors.communications_for_sphere(sphere=sphere, **filters)
    return render(
        request,
        "communications/list.html",
        {
            "sphere": sphere,
            "active_tab": "communications",
            "rows": selectors.communication_rows(communications),
            "filter_form": filter_form,
            "is_filtered": any(filters.values()),
        },
    )


@login_required
def communication_choose_kind(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    return render(
        request,
        "communications/choose_kind.html",
        {
            "sphere": sphere,
            "active_tab": "communications",
            "kinds": Communication.Kind.choices,
        },
    )


@login_required
@require_GET
def communication_help(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    return render(
        request,
        "communications/help.html",
        {
            "sphere": sphere,
            "active_tab": "communications",
            "kinds": [
                (value, label, placeholder_choices(value))
                for value, label in Communication.Kind.choices
            ],
        },
    )


def _audience_context(form: CommunicationForm) -> dict:
    sphere_groups = list(form.fields["groups"].queryset)
    return {"sphere_has_groups": bool(sphere_groups)}


@login_required
@require_http_methods(["GET", "POST"])
def communication_create(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    kind = _kind_or_404(kind)
    source = None
    initial = {}
    if copy_of := request.GET.get("copie"):
        if not copy_of.isdigit():
            raise Http404
        source = selectors.communication_get(sphere=sphere, pk=int(copy_of))
        if source.kind != kind:
            raise Http404
        initial = selectors.communication_initial(source, copy=True)
    else:
        # Replies come to the administrator unless they give another address.
        initial = {"reply_to": request.user.email}
    form = CommunicationForm(
        request.POST or None, sphere=sphere, kind=kind, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            communication = services.communication_create(
                sphere=sphere,
                actor=request.user,
                kind=kind,
                data=form.service_data(),
                groups=form.cleaned_data["groups"],
                password=form.cleaned_data.get("password", ""),
                duplicated_from=source,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("La communication « %(name)s » est enregistrée.")
                % {"name": communication.name},
            )
            return redirect(
                "communications:detail", slug=sphere.slug, pk=communication.pk
            )
    return render(
        request,
        "communications/form.html",
        {
            "sphere": sphere,
            "active_tab": "communications",
            "form": form,
            "kind_label": Communication.Kind(kind).label,
            "source": source,
            **_audience_context(form),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def communication_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    read_only = communication.is_deactivated
    if read_only and request.method == "POST":
        messages.error(
            request,
            _("Cette communication est désactivée : elle ne peut plus être modifiée."),
        )
        return redirect("communications:detail", slug=sphere.slug, pk=pk)
    form = CommunicationForm(
        request.POST or None,
        sphere=sphere,
        kind=communication.kind,
        instance=communication,
        initial=selectors.communication_initial(communication),
    )
    if read_only:
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.communication_update(
                communication=communication,
                actor=request.user,
                data=form.service_data(),
                groups=form.cleaned_data["groups"],
                password=form.cleaned_data.get("password", ""),
            )
        except services.CommunicationDeactivated as exc:
            messages.error(request, str(exc))
            return redirect("communications:detail", slug=sphere.slug, pk=pk)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _(
                    "Modifications enregistrées : elles s'appliquent aux prochains envois."
                ),
            )
            return redirect("communications:detail", slug=sphere.slug, pk=pk)
    return render(
        request,
        "communications/form.html",
        {
            "sphere": sphere,
            "active_tab": "communications",
            "form": form,
            "communication": communication,
            "read_only": read_only,
            "kind_label": communication.get_kind_display(),
            **_audience_context(form),
        },
    )


@login_required
def communication_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    return render(
        request,
        "communications/detail.html",
        {
            "sphere": sphere,
            "active_tab": "communications",
            "communication": communication,
            "row": selectors.communication_rows([communication])[0],
            "upcoming": selectors.communication_upcoming(communication),
            "events": [
                (event, [field_label(f) for f in event.details.get("fields", [])])
                for event in communication.events.select_related("actor")[:50]
            ],
            "sends": _sends_with_counts(communication),
        },
    )


def _sends_with_counts(communication: Communication) -> list[tuple]:
    sends = list(communication.sends.all()[:50])
    counts = selectors.send_counts(sends)
    return [(send, counts[send.pk]) for send in sends]


@login_required
def communication_send_detail(
    request: HttpRequest, slug: str, pk: int, send_id: int
) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    send = get_object_or_404(communication.sends, pk=send_id)
    deliveries = send.deliveries.order_by(
        "status", "last_name", "first_name", "identifiant"
    )
    if status := request.GET.get("resultat"):
        deliveries = deliveries.filter(status=status)
    page = Paginator(deliveries, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "communications/send_detail.html",
        {
            "sphere": sphere,
            "active_tab": "communications",
            "communication": communication,
            "send": send,
            "counts": selectors.send_counts([send])[send.pk],
            "page": page,
            "statuses": Delivery.Status.choices,
            "status_filter": status or "",
        },
    )


@login_required
@require_POST
def communication_send_retry(
    request: HttpRequest, slug: str, pk: int, send_id: int
) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    send = get_object_or_404(communication.sends, pk=send_id)
    if communication.is_deactivated:
        messages.error(
            request, _("Cette communication est désactivée : rien n'est renvoyé.")
        )
    else:
        count = sending.deliveries_retry_failed(send=send)
        messages.success(
            request,
            _("%(count)d message(s) en échec remis en file d'envoi.")
            % {"count": count},
        )
    return redirect(
        "communications:send_detail", slug=sphere.slug, pk=pk, send_id=send_id
    )


@login_required
def communication_duplicate(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
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
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    if request.method == "POST":
        services.communication_deactivate(
            communication=communication, actor=request.user
        )
        messages.success(
            request,
            _(
                "La communication « %(name)s » est désactivée. Elle ne sera plus envoyée."
            )
            % {"name": communication.name},
        )
        return redirect("communications:list", slug=sphere.slug)
    return render(
        request,
        "communications/deactivate.html",
        {
            "sphere": sphere,
            "active_tab": "communications",
            "communication": communication,
        },
    )


@login_required
def communication_preview(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    audience = selectors.audience(selectors.AudienceSpec.of(communication)).order_by(
        "last_name", "first_name", "identifiant"
    )
    form = PreviewForm(request.GET or None, queryset=audience)
    learner = form.cleaned_data["learner"] if form.is_valid() else audience.first()
    if learner is not None and not form.is_bound:
        form = PreviewForm(initial={"learner": learner.pk}, queryset=audience)
    message = None
    if learner is not None:
        prepared = services.prepare_message(communication=communication)
        message = prepared.render(learner)
    return render(
        request,
        "communications/preview.html",
        {
            "sphere": sphere,
            "active_tab": "communications",
            "communication": communication,
            "form": form,
            "learner": learner,
            "message": message,
            "from_email": prepared.from_email if learner is not None else "",
        },
    )


@login_required
@require_POST
def communication_send_test(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    communication = selectors.communication_get(sphere=sphere, pk=pk)
    audience = selectors.audience(selectors.AudienceSpec.of(communication))
    form = PreviewForm(request.POST, queryset=audience)
    if not form.is_valid():
        messages.error(
            request, _("Choisissez un utilisateur destinataire de cette communication.")
        )
        return redirect("communications:preview", slug=sphere.slug, pk=pk)
    learner = form.cleaned_data["learner"]
    services.communication_send_test(
        communication=communication, actor=request.user, learner=learner
    )
    messages.success(
        request,
        _("Un test, tel que le recevra %(learner)s, a été envoyé à %(email)s.")
        % {"learner": learner, "email": request.user.email},
    )
    url = reverse("communications:preview", kwargs={"slug": sphere.slug, "pk": pk})
    return redirect(f"{url}?learner={learner.pk}")


@login_required
@require_POST
def communication_audience(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """The live recipients summary of the form being filled (a fragment)."""
    sphere = sphere_get_for_user(user=request.user, slug=slug)
    kind = _kind_or_404(kind)
    form = CommunicationForm(request.POST, sphere=sphere, kind=kind)
    form.is_valid()  # partial input is normal here: use what is clean
    data = form.cleaned_data
    sphere_has_groups = Group.objects.filter(sphere=sphere).exists()
    spec = selectors.AudienceSpec(
        sphere=sphere,
        kind=kind,
        all_learners=not sphere_has_groups,
        group_ids=tuple(g.pk for g in data.get("groups") or ()),
        evaluation_id=data["evaluation"].pk if data.get("evaluation") else None,
        max_minutes=data.get("max_minutes"),
        minutes_days=data.get("minutes_days"),
        max_level=data.get("max_level"),
        min_level=data.get("min_level"),
        never_started=bool(data.get("never_started")),
        inactive_days=data.get("inactive_days"),
    )
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
            "ungrouped": (
                summary.ungrouped
                if summary
                else selectors.ungrouped_count(sphere=sphere)
            ),
            "today": timezone.localdate(timezone=sphere.tzinfo),
        },
    )
