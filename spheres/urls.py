from django.urls import path

from . import views

app_name = "spheres"

urlpatterns = [
    path("", views.sphere_list, name="list"),
    path("spheres/<slug:slug>/", views.sphere_detail, name="detail"),
    path("spheres/<slug:slug>/utilisateurs/", views.sphere_learners, name="learners"),
    path(
        "spheres/<slug:slug>/utilisateurs/groupes/",
        views.sphere_learners_bulk,
        name="learners_bulk",
    ),
    path(
        "spheres/<slug:slug>/utilisateurs/import/",
        views.sphere_learners_import,
        name="learners_import",
    ),
    path(
        "spheres/<slug:slug>/utilisateurs/<int:learner_id>/",
        views.sphere_learner_detail,
        name="learner_detail",
    ),
    path(
        "spheres/<slug:slug>/utilisateurs/<int:learner_id>/exporter/",
        views.sphere_learner_export,
        name="learner_export",
    ),
    path(
        "spheres/<slug:slug>/utilisateurs/<int:learner_id>/supprimer/",
        views.sphere_learner_erase,
        name="learner_erase",
    ),
    path(
        "spheres/<slug:slug>/utilisateurs/<int:learner_id>/adresse-en-echec/lever/",
        views.sphere_learner_clear_mark,
        name="learner_clear_mark",
    ),
    path(
        "spheres/<slug:slug>/utilisateurs/<int:learner_id>/relances/reinscrire/",
        views.sphere_learner_resubscribe,
        name="learner_resubscribe",
    ),
    path("spheres/<slug:slug>/groupes/", views.sphere_groups, name="groups"),
    path(
        "spheres/<slug:slug>/groupes/nouveau/",
        views.sphere_group_create,
        name="group_create",
    ),
    path(
        "spheres/<slug:slug>/groupes/<int:group_id>/renommer/",
        views.sphere_group_rename,
        name="group_rename",
    ),
    path(
        "spheres/<slug:slug>/groupes/<int:group_id>/supprimer/",
        views.sphere_group_delete,
        name="group_delete",
    ),
    path(
        "spheres/<slug:slug>/evaluations/", views.sphere_evaluations, name="evaluations"
    ),
    path(
        "spheres/<slug:slug>/evaluations/nouvelle/",
        views.sphere_evaluation_create,
        name="evaluation_create",
    ),
    path(
        "spheres/<slug:slug>/evaluations/<int:evaluation_id>/modifier/",
        views.sphere_evaluation_edit,
        name="evaluation_edit",
    ),
    path(
        "spheres/<slug:slug>/evaluations/<int:evaluation_id>/supprimer/",
        views.sphere_evaluation_delete,
        name="evaluation_delete",
    ),
    path("spheres/<slug:slug>/parametres/", views.sphere_settings, name="settings"),
]
