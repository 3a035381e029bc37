"""Sphere administrators browsing their sphere, for ``bench/bench_web.py``.

    locust -f bench/locustfile.py --headless -u 20 -r 5 --run-time 60s \\
        --host http://127.0.0.1:PORT [--plan var/bench-web/plan.json]

Each simulated administrator logs in through « /connexion/ » as an account of its own
(one per user: the login lockout counts failures per account and address, and every
login here succeeds); once all have logged in, each browses with a pause before each
page, the first one included: the communications list, a communication's page, a
send's page, the live recipients count of the form (posted as the form's script posts
it), a reminder's « Les relances ont-elles fonctionné ? » and « Utilisateurs » (first
pages, search, group filter). Requests are named by page type;
a page answers 200 or counts as an error. The run time includes the log-ins.

The plan (the sphere, its administrators and what to open) is the JSON file that
``bench_web.py`` writes; ``--keep`` leaves it with the data for reruns.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import gevent
from gevent.event import Event
from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

DEFAULT_PLAN = Path(__file__).resolve().parent.parent / "var/bench-web/plan.json"

# The page types: bench_web.py prints one row each, with its target.
LOGIN_PAGE = "login page"
LOGIN = "login"
COMMUNICATIONS = "communications list"
COMMUNICATION = "communication detail"
SEND = "send detail"
LIVE_COUNT = "live count"
EFFECTIVENESS = "reminder effectiveness"
USERS = "users"
USERS_SEARCH = "users search"
USERS_GROUP = "users by group"

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# What administrators type in the search box: a last name, a first name, the start of
# an identifiant, a word of an address.
SEARCHES = ["martin", "Dubois", "léa", "benchb0012", "benchb04", "petit hugo"]


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument(
        "--plan",
        default=str(DEFAULT_PLAN),
        help="the JSON plan bench_web.py writes (sphere, administrators, ids)",
    )
    parser.add_argument(
        "--think-min", type=float, default=1.0, help="shortest pause before a page (s)"
    )
    parser.add_argument(
        "--think-max", type=float, default=3.0, help="longest pause before a page (s)"
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=5000,
        help="stop the run after this many pages in all",
    )


@cache
def _plan(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


# One account per simulated administrator, handed out in order (locust runs its users
# as greenlets of one process: no lock needed).
_accounts: dict[str, Any] = {}
_pages = itertools.count(1)
# Browsing starts once every administrator has logged in: a log-in hashes a password
# on purpose slowly, and twenty of them within seconds would weigh on the pages of the
# first administrators in, which is not what a sphere's day looks like.
_logged_in = itertools.count(1)
_all_logged_in = Event()
LOGIN_WAIT = 120  # seconds, at most


def _next_account(plan: dict[str, Any]) -> str | None:
    if "iterator" not in _accounts:
        _accounts["iterator"] = iter(plan["admins"])
    return next(_accounts["iterator"], None)


class Administrator(FastHttpUser):
    def wait_time(self) -> float:
        options = self.environment.parsed_options
        return between(options.think_min, options.think_max)(self)

    def on_start(self) -> None:
        self.plan = _plan(self.environment.parsed_options.plan)
        self.base = f"/spheres/{self.plan['slug']}"
        email = _next_account(self.plan)
        if email is None:
            # More users than accounts: a second login on an account is not what this
            # measures.
            raise StopUser
        self._login(email)
        if next(_logged_in) >= self.environment.parsed_options.num_users:
            _all_logged_in.set()
        _all_logged_in.wait(LOGIN_WAIT)
        # Then each one reads the page it landed on before its first click, as between
        # two pages: released together, the twenty first pages would come in the same
        # instant, the last of them queued behind nineteen others, a burst no sphere's
        # administrators make (it decided the p95 of the rarer page types).
        gevent.sleep(self.wait_time())

    def _login(self, email: str) -> None:
        with self.client.get(
            "/connexion/", name=LOGIN_PAGE, catch_response=True, allow_redirects=False
        ) as response:
            found = CSRF_INPUT.search(response.text or "")
            if response.status_code != 200 or not found:
                response.failure(f"login page: {response.status_code}, no CSRF token")
                raise StopUser
        body = {
            "csrfmiddlewaretoken": found.group(1),
            "username": email,
            "password": self.plan["password"],
        }
        with self.client.post(
            "/connexion/",
            data=urlencode(body),
            headers=FORM,
            name=LOGIN,
            catch_response=True,
            allow_redirects=False,
        ) as response:
            # A refused login shows the form again (200); an accepted one redirects.
            location = response.headers.get("Location", "") if response.headers else ""
            if response.status_code != 302 or "connexion" in location:
                response.failure(f"login refused for {email}: {response.status_code}")
                raise StopUser

    def _count_page(self) -> None:
        if next(_pages) > self.environment.parsed_options.max_requests:
            runner = self.environment.runner
            if runner is not None:
                runner.quit()
            raise StopUser

    def _get(self, path: str, name: str, **params: Any) -> None:
        self._count_page()
        query = f"?{urlencode(params)}" if params else ""
        with self.client.get(
            path + query, name=name, catch_response=True, allow_redirects=False
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")

    def _csrf_token(self) -> str:
        for cookie in self.client.cookiejar:
            if cookie.name == "csrftoken" and cookie.value:
                return cookie.value
        return ""

    @task(3)
    def communications_list(self) -> None:
        filters: dict[str, str] = random.choice(
            [{}, {}, {"etat": "active"}, {"type": "reminder"}, {"q": "relance"}]
        )
        self._get(f"{self.base}/communications/", COMMUNICATIONS, **filters)

    @task(4)
    def communication_detail(self) -> None:
        pk = random.choice(self.plan["communications"])
        self._get(f"{self.base}/communications/{pk}/", COMMUNICATION)

    @task(1)
    def send_detail(self) -> None:
        if not self.plan["sends"]:
            return
        pk, send_id = random.choice(self.plan["sends"])
        params = random.choice([{}, {}, {"page": "2"}, {"resultat": "failed"}])
        self._get(f"{self.base}/communications/{pk}/envois/{send_id}/", SEND, **params)

    @task(1)
    def reminder_effectiveness(self) -> None:
        if not self.plan.get("effectiveness"):
            return
        pk = random.choice(self.plan["effectiveness"])
        self._get(f"{self.base}/communications/{pk}/efficacite/", EFFECTIVENESS)

    @task(3)
    def live_count(self) -> None:
        """The form's script posts the whole form on each change of the audience
        fields; what matters here is the groups, the evaluation and the criteria."""
        self._count_page()
        groups = self.plan["groups"]
        kind = random.choice(["announcement", "reminder", "evaluation"])
        body: list[tuple[str, Any]] = [("csrfmiddlewaretoken", self._csrf_token())]
        if kind == "evaluation" and self.plan["evaluations"]:
            evaluation = random.choice(self.plan["evaluations"])
            body.append(("evaluation", evaluation["id"]))
            chosen = random.sample(
                evaluation["groups"], random.randint(1, len(evaluation["groups"]))
            )
        elif kind == "reminder":
            chosen = random.sample(groups, random.choice([1, 5, 20, 50]))
            body += [("max_minutes", 15), ("minutes_days", 7)]
            body += random.choice(
                [
                    [],
                    [("max_level", 75)],
                    [("inactive_days", 3)],
                    [("never_started", "on")],
                ]
            )
        else:
            kind = "announcement"
            chosen = random.sample(groups, random.randint(1, 5))
        body += [("groups", pk) for pk in chosen]
        with self.client.post(
            f"{self.base}/communications/destinataires/{kind}/",
            data=urlencode(body),
            headers={**FORM, "X-Requested-With": "fetch"},
            name=LIVE_COUNT,
            catch_response=True,
            allow_redirects=False,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")

    @task(2)
    def users(self) -> None:
        # The pages an administrator reaches with « Suivante »: the first ones.
        page = random.choice([1, 1, 1, 2, 2, 3, 4, 5])
        self._get(f"{self.base}/utilisateurs/", USERS, page=page)

    @task(1)
    def users_search(self) -> None:
        self._get(f"{self.base}/utilisateurs/", USERS_SEARCH, q=random.choice(SEARCHES))

    @task(1)
    def users_by_group(self) -> None:
        group = random.choice(self.plan["groups"])
        self._get(f"{self.base}/utilisateurs/", USERS_GROUP, groupe=group)
