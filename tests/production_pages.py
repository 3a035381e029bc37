"""Fetch one page of each kind under the production settings and print what came back.

Run by tests/test_security_headers.py in a process of its own, whose environment is a
production one (DEBUG off, the base settings): migrates an empty database, collects
the static files, seeds the demo, logs in through the log-in forms over HTTPS, and
prints one JSON object: for each page its status, headers and the cookies it set.
"""

import json
import os
import re
import sys

import django

# What a strict Content-Security-Policy refuses: an inline script, a <style> element, a
# style attribute, an event handler attribute.
INLINE = re.compile(
    r"<script(?![^>]*\ssrc=)[^>]*>|<style[\s>]|\sstyle=\"|\son[a-z]+=\"", re.IGNORECASE
)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voltaire_comms.settings.base")
    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from accounts.models import User
    from communications.models import Communication
    from spheres.management.commands import seed_demo

    assert not settings.DEBUG
    quiet = {"verbosity": 0}
    call_command("migrate", interactive=False, **quiet)
    call_command("collectstatic", interactive=False, **quiet)
    call_command(
        "seed_demo",
        "--i-know-this-is-not-production",
        stdout=open(os.devnull, "w"),  # noqa: SIM115
    )
    User.objects.create_user("sans-droits@demo.voltaire.example", "x", is_staff=True)
    host = settings.ALLOWED_HOSTS[0]

    def client() -> Client:
        return Client(HTTP_HOST=host)

    pages: dict[str, dict] = {}

    def record(name: str, response) -> None:
        pages[name] = {
            "status": response.status_code,
            "headers": dict(response.headers),
            "inline": INLINE.findall(response.content.decode())
            if response["Content-Type"].startswith("text/html")
            else [],
            "cookies": {
                key: {
                    "secure": bool(morsel["secure"]),
                    "httponly": bool(morsel["httponly"]),
                    "samesite": morsel["samesite"],
                }
                for key, morsel in response.cookies.items()
            },
        }

    anonymous = client()
    record("login", anonymous.get(reverse("login"), secure=True))
    record("http", anonymous.get(reverse("login")))

    administrator = client()
    record(
        "login_post",
        administrator.post(
            reverse("login"),
            {"username": seed_demo.ADMIN_EMAIL, "password": seed_demo.DEMO_PASSWORD},
            secure=True,
        ),
    )
    slug = seed_demo.DEMO_SLUG
    communication = Communication.objects.filter(sphere__slug=slug).first()
    assert communication is not None
    sphere_urls = {
        "sphere_list": reverse("spheres:list"),
        "learners": reverse("spheres:learners", kwargs={"slug": slug}),
        "communication_list": reverse("communications:list", kwargs={"slug": slug}),
        "communication_detail": reverse(
            "communications:detail", kwargs={"slug": slug, "pk": communication.pk}
        ),
        "communication_form": reverse(
            "communications:edit", kwargs={"slug": slug, "pk": communication.pk}
        ),
        "communication_preview": reverse(
            "communications:preview", kwargs={"slug": slug, "pk": communication.pk}
        ),
        "not_found": "/spheres/nulle-part/",
    }
    for name, url in sphere_urls.items():
        record(name, administrator.get(url, secure=True))
    page = administrator.get(reverse("spheres:list"), secure=True).content.decode()
    start = page.index("/static/css/app.")
    record(
        "static", administrator.get(page[start : page.index('"', start)], secure=True)
    )

    support = client()
    record(
        "admin_login_post",
        support.post(
            reverse("admin:login"),
            {"username": seed_demo.SUPPORT_EMAIL, "password": seed_demo.DEMO_PASSWORD},
            secure=True,
        ),
    )
    admin_pages = {
        "admin_index": reverse("admin:index"),
        "admin_changelist": reverse("admin:communications_communication_changelist"),
        "admin_change": reverse(
            "admin:communications_communication_change", args=[communication.pk]
        ),
        "admin_lockouts": reverse("admin:axes_accessattempt_changelist"),
    }
    for name, url in admin_pages.items():
        record(name, support.get(url, secure=True))
    # the user accounts: a superuser's pages (support does not see them)
    superuser = client()
    superuser.force_login(
        User.objects.create_superuser(
            email="super@demo.voltaire.example", password=None
        )
    )
    record(
        "admin_user_change",
        superuser.get(
            reverse(
                "admin:accounts_user_change",
                args=[User.objects.get(email=seed_demo.ADMIN_EMAIL).pk],
            ),
            secure=True,
        ),
    )

    no_rights = client()
    no_rights.force_login(User.objects.get(email="sans-droits@demo.voltaire.example"))
    record("forbidden", no_rights.get("/admin/accounts/user/", secure=True))

    json.dump(pages, sys.stdout)


if __name__ == "__main__":
    main()
