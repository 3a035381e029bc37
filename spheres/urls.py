from django.urls import path

from . import views

app_name = "spheres"

urlpatterns = [
    path("", views.sphere_list, name="list"),
]
