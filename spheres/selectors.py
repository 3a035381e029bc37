"""Reads, always scoped to what the caller may see."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User

from .models import Sphere


def spheres_for_user(*, user: User) -> QuerySet[Sphere]:
    """The spheres this user administers (support staff see none here: they use the admin)."""
    return Sphere.objects.filter(administrators=user).order_by("name")


def sphere_get_for_user(*, user: User, slug: str) -> Sphere:
    """The sphere if the user administers it; otherwise ``Http404`` (never reveal it exists)."""
    try:
        return spheres_for_user(user=user).get(slug=slug)
    except Sphere.DoesNotExist:
        raise Http404 from None
