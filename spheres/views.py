"""The sphere administrators' web app: their spheres and each sphere's tabs.

Every sphere view starts with ``selectors.sphere_get_for_user``: another sphere's
administrator gets a 404, as if the sphere did not exist.
"""

import json
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from communications.sending.schedule_change import schedule_change_offers
from voltaire_comms.pagination import CappedCountPaginator, paginate

from . import privacy, selectors, services
from .forms import (
    EvaluationForm,
    GroupForm,
    LearnerBulkForm,
    LearnerFilterForm,
    LearnerImportForm,
    SphereSettingsForm,
)
from .models import Evaluation, Sphere

LEARNERS_PER_PAGE = 50


class SearchPaginator(CappedCountPaginator):
    CAP = 1_000


IMPORT_CSV_HEADER = "identifiant,prenom,nom,email,groupes,niveau"


# The two helpers every tab of a sphere uses, in this app and in « Communications »:
# the sphere fetched through the user's spheres (404 for anyone else), and the page
# rendered with the sphere and its tab.


def request_user(request: HttpRequest) -> User:
    # Every view of a sphere is behind @login_required.
    return cast(User, request.user)


def sphere_for(request: HttpRequest, slug: str) -> Sphere:
    """The sphere ``slug`` if the user administers it, else ``Http404``."""
    return selectors.sphere_get_for_user(user=request_user(request), slug=slug)


def render_tab(
    request: HttpRequest,
    sphere: Sphere,
    tab: str,
    template: str,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    """A page of one of the sphere's tabs."""
    return render(
        request,
        template,
        {"sphere": sphere, "active_tab": tab, **context},
        status=status,
    )


@login_required
@require_GET
def sphere_list(request: HttpRequest) -> HttpResponse:
    spheres = selectors.sphere_list_for_user(user=request_user(request))
    return render(request, "spheres/sphere_list.html", {"spheres": spheres})


@login_required
@require_GET
def sphere_detail(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    return redirect("spheres:learners", slug=sphere.slug)


# --- Utilisateurs ---------------------------------------------------------------------


def _learners_url(sphere: Sphere, query: QueryDict | None = None) -> str:
    url = reverse("spheres:learners", kwargs={"slug": sphere.slug})
    return f"{url}?{query.urlencode()}" if query else url


def _render_learners(
    request: HttpRequest,
    sphere: Sphere,
    *,
    query: QueryDict,
    bulk_form: LearnerBulkForm | None = None,
    import_form: LearnerImportForm | None = None,
    import_errors: list[str] | None = None,
    import_summary: str = "",
    status: int = 200,
) -> HttpResponse:
    filter_form = LearnerFilterForm(query, sphere=sphere)
    learners = selectors.learners_list(sphere=sphere, **filter_form.filters())
    # A search is counted up to SEARCH_COUNT_CAP: past it, the administrator refines it.
    page, filters_query = paginate(
        learners,
        LEARNERS_PER_PAGE,
        query,
        paginator_class=SearchPaginator if query.get("q", "").split() else Paginator,
    )
    bulk_form = bulk_form or LearnerBulkForm(
        sphere=sphere,
        groups=filter_form.groups.values(),
        initial={"retour": query.urlencode()},
    )
    return render_tab(
        request,
        sphere,
        "learners",
        "spheres/learners.html",
        {
            "filter_form": filter_form,
            "is_filtered": bool(
                query.get("q") or query.get("groupe") or query.get("relances")
            ),
            "page": page,
            "filters_query": filters_query,
            "bulk_form": bulk_form,
            "checked_ids": bulk_form.checked_ids(),
            "has_groups": filter_form.groups != {},
            "import_form": import_form or LearnerImportForm(),
            "import_errors": import_errors or [],
            "import_summary": import_summary,
            "csv_header": IMPORT_CSV_HEADER,
        },
        status=status,
    )


@login_required
@require_GET
def sphere_learners(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    return _render_learners(request, sphere, query=request.GET)


@login_required
@require_POST
def sphere_learners_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    form = LearnerBulkForm(request.POST, sphere=sphere)
    query = QueryDict(request.POST.get("retour", "")[:500])
    if not form.is_valid():
        return _render_learners(
            request, sphere, query=query, bulk_form=form, status=400
        )
    group = form.cleaned_data["group"]
    learners = form.cleaned_data["learners"]
    if form.cleaned_data["action"] == LearnerBulkForm.ADD:
        count = services.group_add_learners(group=group, learners=learners)
        message = (
            _(
                "Aucun utilisateur ajouté : ils étaient déjà dans le groupe "
                "« %(group)s »."
            )
            if count == 0
            else ngettext(
                "%(count)d utilisateur ajouté au groupe « %(group)s ».",
                "%(count)d utilisateurs ajoutés au groupe « %(group)s ».",
                count,
            )
        )
    else:
        count = services.group_remove_learners(group=group, learners=learners)
        message = (
            _("Aucun utilisateur retiré : aucun n'était dans le groupe « %(group)s ».")
            if count == 0
            else ngettext(
                "%(count)d utilisateur retiré du groupe « %(group)s ».",
                "%(count)d utilisateurs retirés du groupe « %(group)s ».",
                count,
            )
        )
    messages.success(request, message % {"count": count, "group": group.name})
    return redirect(_learners_url(sphere, query))


@login_required
@require_POST
def sphere_learner_clear_mark(
    request: HttpRequest, slug: str, learner_id: int
) -> HttpResponse:
    sphere = sphere_for(request, slug)
    learner = selectors.learner_get(sphere=sphere, learner_id=learner_id)
    query = QueryDict(request.POST.get("retour", "")[:500])
    if services.learner_address_clear_mark(learner=learner):
        messages.success(
            request,
            _(
                "L'adresse %(email)s n'est plus marquée en échec permanent : les "
                "prochains envois l'utiliseront de nouveau."
            )
            % {"email": learner.email},
        )
    return redirect(_learners_url(sphere, query))


@login_required
@require_http_methods(["GET", "POST"])
def sphere_learner_resubscribe(
    request: HttpRequest, slug: str, learner_id: int
) -> HttpResponse:
    """Record that an unsubscribed learner asked to receive reminders again: GET asks
    for confirmation, POST records it (who and when)."""
    sphere = sphere_for(request, slug)
    learner = selectors.learner_get(sphere=sphere, learner_id=learner_id)
    query = QueryDict((request.POST or request.GET).get("retour", "")[:500])
    if request.method == "POST":
        if services.learner_reminders_resubscribe(
            learner=learner, actor=request_user(request)
        ):
            messages.success(
                request,
                _("%(learner)s recevra de nouveau les relances, à sa demande.")
                % {"learner": learner},
            )
        else:
            messages.info(
                request,
                _("%(learner)s reçoit déjà les relances.") % {"learner": learner},
            )
        return redirect(_learners_url(sphere, query))
    return render_tab(
        request,
        sphere,
        "learners",
        "spheres/learner_resubscribe.html",
        {"learner": learner, "retour": query.urlencode()},
    )


@login_required
@require_GET
def sphere_learner_detail(
    request: HttpRequest, slug: str, learner_id: int
) -> HttpResponse:
    sphere = sphere_for(request, slug)
    learner = selectors.learner_get_with_groups(sphere=sphere, learner_id=learner_id)
    messages_sent = selectors.learner_messages(learner=learner)
    return render_tab(
        request,
        sphere,
        "learners",
        "spheres/learner_detail.html",
        {
            "learner": learner,
            "mark": selectors.learner_undeliverable_mark(learner=learner),
            "activity": selectors.learner_recent_activity(learner=learner),
            "activity_days": selectors.LEARNER_PAGE_ACTIVITY_DAYS,
            "deliveries": messages_sent[: selectors.LEARNER_PAGE_MESSAGES],
            "delivery_count": messages_sent.count(),
        },
    )


@login_required
@require_GET
def sphere_learner_export(
    request: HttpRequest, slug: str, learner_id: int
) -> HttpResponse:
    sphere = sphere_for(request, slug)
    learner = selectors.learner_get(sphere=sphere, learner_id=learner_id)
    body = json.dumps(
        privacy.export_learner(learner),
        cls=DjangoJSONEncoder,
        ensure_ascii=False,
        indent=2,
    )
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    # The file is named by the learner's number, not their name: a download folder
    # or a proxy's log then holds no personal data.
    response["Content-Disposition"] = (
        f'attachment; filename="utilisateur-{learner.pk}-{sphere.slug}.json"'
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def sphere_learner_erase(
    request: HttpRequest, slug: str, learner_id: int
) -> HttpResponse:
    sphere = sphere_for(request, slug)
    learner = selectors.learner_get(sphere=sphere, learner_id=learner_id)
    if request.method == "POST":
        privacy.erase_learner(learner=learner, actor=request_user(request))
        messages.success(
            request,
            _(
                "Utilisateur supprimé. Ses messages restent comptés dans les envois, "
                "sans son nom, son identifiant ni son adresse."
            ),
        )
        return redirect("spheres:learners", slug=sphere.slug)
    return render_tab(
        request,
        sphere,
        "learners",
        "spheres/learner_erase.html",
        {
            "learner": learner,
            "group_count": learner.memberships.count(),
            "activity_count": learner.activity.count(),
            "delivery_count": selectors.learner_messages(learner=learner).count(),
            "mark": selectors.learner_undeliverable_mark(learner=learner),
        },
    )


def _import_error_text(error: Any) -> str:
    """The error as one line, starting with its line number when it has one."""
    message = str(error.message)
    if error.line is None or message.startswith(
        _("Ligne %(line)s") % {"line": error.line}
    ):
        return message
    return _("Ligne %(line)s : %(message)s") % {"line": error.line, "message": message}


def _import_report_message(report: Any) -> str:
    parts = [
        ngettext("%(n)d ligne lue", "%(n)d lignes lues", report.rows)
        % {"n": report.rows},
        ngettext("%(n)d utilisateur créé", "%(n)d utilisateurs créés", report.created)
        % {"n": report.created},
        ngettext("%(n)d mis à jour", "%(n)d mis à jour", report.updated)
        % {"n": report.updated},
        ngettext("%(n)d groupe créé", "%(n)d groupes créés", report.groups_created)
        % {"n": report.groups_created},
    ]
    return _("Import terminé : %(details)s.") % {"details": ", ".join(parts)}


@login_required
@require_POST
def sphere_learners_import(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    form = LearnerImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_learners(
            request, sphere, query=QueryDict(), import_form=form, status=400
        )
    # Imported here so that the rest of the app does not depend on the importer.
    from . import importers

    try:
        report = importers.learners_import(
            sphere=sphere, file=form.cleaned_data["fichier"]
        )
    except importers.ImportFailed as exc:
        return _render_learners(
            request,
            sphere,
            query=QueryDict(),
            import_form=LearnerImportForm(),
            import_summary=str(exc),
            import_errors=[_import_error_text(error) for error in exc.errors],
            status=400,
        )
    messages.success(request, _import_report_message(report))
    return redirect("spheres:learners", slug=sphere.slug)


# --- Groupes --------------------------------------------------------------------------


def _render_groups(
    request: HttpRequest, sphere: Sphere, form: GroupForm, status: int = 200
) -> HttpResponse:
    groups = selectors.groups_with_learner_counts(sphere=sphere)
    return render_tab(
        request,
        sphere,
        "groups",
        "spheres/groups.html",
        {"groups": groups, "form": form},
        status=status,
    )


@login_required
@require_GET
def sphere_groups(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    return _render_groups(request, sphere, GroupForm())


@login_required
@require_POST
def sphere_group_create(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    form = GroupForm(request.POST)
    if form.is_valid():
        try:
            group = services.group_create(sphere=sphere, name=form.cleaned_data["name"])
        except services.ServiceError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(
                request, _("Groupe « %(name)s » créé.") % {"name": group.name}
            )
            return redirect("spheres:groups", slug=sphere.slug)
    return _render_groups(request, sphere, form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def sphere_group_rename(request: HttpRequest, slug: str, group_id: int) -> HttpResponse:
    sphere = sphere_for(request, slug)
    group = selectors.group_get(sphere=sphere, group_id=group_id)
    current_name = group.name
    if request.method == "POST":
        form = GroupForm(request.POST)
        if form.is_valid():
            try:
                services.group_rename(group=group, name=form.cleaned_data["name"])
            except services.ServiceError as exc:
                form.add_error("name", str(exc))
            else:
                messages.success(
                    request,
                    _("Groupe « %(old)s » renommé en « %(new)s ».")
                    % {"old": current_name, "new": group.name},
                )
                return redirect("spheres:groups", slug=sphere.slug)
    else:
        form = GroupForm(initial={"name": group.name})
    return render_tab(
        request,
        sphere,
        "groups",
        "spheres/group_rename.html",
        {"group_name": current_name, "group": group, "form": form},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def sphere_group_delete(request: HttpRequest, slug: str, group_id: int) -> HttpResponse:
    sphere = sphere_for(request, slug)
    group = selectors.group_get(sphere=sphere, group_id=group_id)
    error = ""
    if request.method == "POST":
        name = group.name
        try:
            services.group_delete(group=group)
        except services.ServiceError as exc:
            error = str(exc)
        else:
            messages.success(
                request,
                _(
                    "Groupe « %(name)s » supprimé. Ses utilisateurs restent dans la "
                    "sphère."
                )
                % {"name": name},
            )
            return redirect("spheres:groups", slug=sphere.slug)
    communications = list(selectors.group_active_communications(group=group))
    return render_tab(
        request,
        sphere,
        "groups",
        "spheres/group_delete.html",
        {
            "group": group,
            "learner_count": group.memberships.count(),
            "error": error,
            "sole_group_of": [c for c in communications if not c.has_other_groups],
            "one_group_of": [c for c in communications if c.has_other_groups],
        },
        status=400 if error else 200,
    )


# --- Évaluations ----------------------------------------------------------------------


@login_required
@require_GET
def sphere_evaluations(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    evaluations = selectors.evaluations_for_sphere(sphere=sphere)
    return render_tab(
        request,
        sphere,
        "evaluations",
        "spheres/evaluations.html",
        {"evaluations": evaluations},
    )


def _render_evaluation_form(
    request: HttpRequest,
    sphere: Sphere,
    form: EvaluationForm,
    evaluation: Evaluation | None = None,
) -> HttpResponse:
    return render_tab(
        request,
        sphere,
        "evaluations",
        "spheres/evaluation_form.html",
        {"form": form, "evaluation": evaluation},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def sphere_evaluation_create(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    if request.method == "POST":
        form = EvaluationForm(request.POST, sphere=sphere)
        if form.is_valid():
            try:
                evaluation = services.evaluation_create(
                    sphere=sphere,
                    name=form.cleaned_data["name"],
                    windows=form.windows(),
                )
            except services.ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    _("Évaluation « %(name)s » créée.") % {"name": evaluation.name},
                )
                return redirect("spheres:evaluations", slug=sphere.slug)
    else:
        form = EvaluationForm(sphere=sphere)
    return _render_evaluation_form(request, sphere, form)


@login_required
@require_http_methods(["GET", "POST"])
def sphere_evaluation_edit(
    request: HttpRequest, slug: str, evaluation_id: int
) -> HttpResponse:
    sphere = sphere_for(request, slug)
    evaluation = selectors.evaluation_get(sphere=sphere, evaluation_id=evaluation_id)
    if request.method == "POST":
        form = EvaluationForm(request.POST, sphere=sphere, evaluation=evaluation)
        if form.is_valid():
            try:
                services.evaluation_update(
                    evaluation=evaluation,
                    name=form.cleaned_data["name"],
                    windows=form.windows(),
                )
            except services.ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    _("Évaluation « %(name)s » modifiée.") % {"name": evaluation.name},
                )
                _offer_schedule_change(request, sphere, evaluation)
                return redirect("spheres:evaluations", slug=sphere.slug)
    else:
        form = EvaluationForm(sphere=sphere, evaluation=evaluation)
    return _render_evaluation_form(request, sphere, form, evaluation)


def _offer_schedule_change(
    request: HttpRequest, sphere: Sphere, evaluation: Evaluation
) -> None:
    """Windows moved after an announcement went out: the administrator is offered to
    tell the learners concerned (nothing is sent from here)."""
    for communication, count in schedule_change_offers(evaluation_id=evaluation.pk):
        url = reverse(
            "communications:schedule_change",
            kwargs={"slug": sphere.slug, "pk": communication.pk},
        )
        messages.warning(
            request,
            format_html(
                '{} <a href="{}">{}</a>',
                ngettext(
                    "L'horaire a changé pour %(count)d utilisateur qui a reçu "
                    "l'annonce « %(name)s ».",
                    "L'horaire a changé pour %(count)d utilisateurs qui ont reçu "
                    "l'annonce « %(name)s ».",
                    count,
                )
                % {"count": count, "name": communication.name},
                url,
                _("Prévenir du changement d'horaire"),
            ),
        )


@login_required
@require_http_methods(["GET", "POST"])
def sphere_evaluation_delete(
    request: HttpRequest, slug: str, evaluation_id: int
) -> HttpResponse:
    sphere = sphere_for(request, slug)
    evaluation = selectors.evaluation_get(sphere=sphere, evaluation_id=evaluation_id)
    if request.method == "POST":
        try:
            services.evaluation_delete(evaluation=evaluation)
        except services.ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("Évaluation « %(name)s » supprimée.") % {"name": evaluation.name},
            )
        return redirect("spheres:evaluations", slug=sphere.slug)
    return render_tab(
        request,
        sphere,
        "evaluations",
        "spheres/evaluation_delete.html",
        {"evaluation": evaluation},
    )


# --- Paramètres -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def sphere_settings(request: HttpRequest, slug: str) -> HttpResponse:
    sphere = sphere_for(request, slug)
    if request.method == "POST":
        form = SphereSettingsForm(request.POST, sphere=sphere)
        if form.is_valid():
            services.sphere_settings_update(sphere=sphere, **form.cleaned_data)
            messages.success(request, _("Paramètres de la sphère enregistrés."))
            return redirect("spheres:settings", slug=sphere.slug)
    else:
        form = SphereSettingsForm.of(sphere)
    return render_tab(
        request,
        sphere,
        "settings",
        "spheres/settings.html",
        {"form": form},
        status=400 if form.is_bound else 200,
    )
