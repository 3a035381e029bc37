from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import selectors


@login_required
def sphere_list(request: HttpRequest) -> HttpResponse:
    spheres = selectors.spheres_for_user(user=request.user)
    return render(request, "spheres/sphere_list.html", {"spheres": spheres})
