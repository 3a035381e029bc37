"""Writes on the domain: every change to spheres, groups, learners and evaluations."""

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils.text import slugify

from accounts.models import User

from .models import Evaluation, EvaluationWindow, Group, Learner, Membership, Sphere


class ServiceError(Exception):
    """A rule refused the change; the message is safe to show (French, for users)."""


def sphere_create(*, name: str, slug: str | None = None, timezone: str = "Europe/Paris") -> Sphere:
    sphere = Sphere(name=name.strip(), slug=slug or slugify(name), timezone=timezone)
    sphere.full_clean()
    sphere.save()
    return sphere


def sphere_admin_add(*, sphere: Sphere, email: str, password: str | None = None) -> User:
    """Give ``email`` the administration of ``sphere``, creating the account if needed.

    An existing account keeps its password unless one is given.
    """
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=password)
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
        sphere.administrators.add(user)
    return user


def group_create(*, sphere: Sphere, name: str) -> Group:
    name = name.strip()
    if Group.objects.filter(sphere=sphere, name=name).exists():
        raise ServiceError(f"Un groupe « {name} » existe déjà dans cette sphère.")
    return Group.objects.create(sphere=sphere, name=name)


def group_rename(*, group: Group, name: str) -> Group:
    name = name.strip()
    if Group.objects.filter(sphere_id=group.sphere_id, name=name).exclude(pk=group.pk).exists():
        raise ServiceError(f"Un groupe « {name} » existe déjà dans cette sphère.")
    group.name = name
    group.save(update_fields=["name"])
    return group


def group_delete(*, group: Group) -> None:
    """Delete the group; its learners stay in the sphere, without this group."""
    group.delete()


def group_add_learners(*, group: Group, learners: Iterable[Learner]) -> int:
    """Put learners of the group's sphere into it; returns how many were added."""
    ids = [learner.pk for learner in learners if learner.sphere_id == group.sphere_id]
    existing = set(
        Membership.objects.filter(group=group, learner_id__in=ids).values_list(
            "learner_id", flat=True
        )
    )
    created = Membership.objects.bulk_create(
        [Membership(group=group, learner_id=pk) for pk in ids if pk not in existing]
    )
    return len(created)


def group_remove_learners(*, group: Group, learners: Iterable[Learner]) -> int:
    """Take learners out of the group; returns how many were removed."""
    deleted, _ = Membership.objects.filter(
        group=group, learner_id__in=[learner.pk for learner in learners]
    ).delete()
    return deleted


def evaluation_create(
    *,
    sphere: Sphere,
    name: str,
    windows: Iterable[tuple[Group, dt.datetime, dt.datetime]],
) -> Evaluation:
    """Create an evaluation with one time window per group (``ends_at`` after ``starts_at``)."""
    windows = list(windows)
    if not windows:
        raise ServiceError("Une évaluation a au moins un groupe avec ses dates.")
    for group, starts_at, ends_at in windows:
        if group.sphere_id != sphere.pk:
            raise ServiceError(f"Le groupe « {group} » n'appartient pas à cette sphère.")
        if ends_at <= starts_at:
            raise ServiceError(f"Pour « {group} », la fin doit être après le début.")
    with transaction.atomic():
        evaluation = Evaluation.objects.create(sphere=sphere, name=name.strip())
        EvaluationWindow.objects.bulk_create(
            EvaluationWindow(evaluation=evaluation, group=g, starts_at=s, ends_at=e)
            for g, s, e in windows
        )
    return evaluation
