"""The benchmarks' parts that can be checked in a second: the locustfile loads,
``bench_web.py`` reads its arguments, ``bench_send.py`` sees messages it did not
create. The benchmarks themselves run with ``make bench-web`` and ``make bench-send``."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"


def test_locust_loads_the_locustfile_and_finds_the_administrator() -> None:
    # when: in a process of its own (locust patches the standard library on import)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(BENCH_DIR / "locustfile.py"),
            "--list",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Available", "Users:", "Administrator"]


@pytest.fixture
def bench_web(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    import bench_web

    return bench_web


def test_bench_web_defaults_to_one_user_per_administrator(bench_web) -> None:
    # when
    args = bench_web.parse_args([])

    # then
    assert (args.learners, args.groups, args.days) == (100_000, 200, 7)
    assert (args.communications, args.sends, args.admins) == (500, 20, 20)
    assert (args.users, args.run_time, args.keep, args.reuse) == (20, 60, False, False)
    assert 2 <= args.workers <= 4


def test_bench_web_reads_keep_reuse_and_a_smaller_load(bench_web) -> None:
    # when
    args = bench_web.parse_args(
        ["--keep", "--reuse", "--users", "5", "--run-time", "10"]
    )

    # then
    assert (args.keep, args.reuse, args.users, args.run_time) == (True, True, 5, 10)


def test_bench_web_refuses_more_users_than_administrators(bench_web, capsys) -> None:
    # when: a second user on an account would log in twice
    with pytest.raises(SystemExit) as exit_:
        bench_web.parse_args(["--users", "21"])

    # then
    assert exit_.value.code == 2
    assert "--users must be between 1 and --admins" in capsys.readouterr().err


@pytest.mark.django_db
def test_bench_send_sees_messages_in_the_database_it_did_not_create(
    monkeypatch,
) -> None:
    # given: a message waiting to be sent and one already failed, in the database the
    # benchmark is given
    from communications.models import Delivery
    from communications.tests.factories import DeliveryFactory

    monkeypatch.syspath_prepend(str(BENCH_DIR))
    import bench_send

    DeliveryFactory(status=Delivery.Status.PENDING, error="", attempts=0)
    DeliveryFactory()

    # when
    in_flight = bench_send._others_in_flight()

    # then: the waiting one, which its workers would send (it refuses to start then)
    assert in_flight == 1
