"""The per-request deadline: armed before the application runs, cleared when the response closes,
and, past it, the process ends by SIGALRM whatever it is waiting on."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from reviewsvc import deadline
from reviewsvc.deadline import RequestDeadline


@pytest.fixture
def alarms(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(deadline.signal, "alarm", calls.append)
    return calls


class Body:
    closed = False

    def __iter__(self):
        return iter([b"a", b"b"])

    def close(self) -> None:
        self.closed = True


def test_the_alarm_is_set_before_the_application_runs_and_cleared_when_the_response_closes(alarms):
    body = Body()

    def application(environ, start_response):
        assert alarms == [7]  # armed before any of the application's work
        return body

    response = RequestDeadline(application, seconds=7)({}, lambda *a: None)
    assert list(response) == [b"a", b"b"]
    assert alarms == [7]  # still armed while the body streams
    response.close()
    assert alarms == [7, 0]
    assert body.closed


def test_the_alarm_is_cleared_when_the_application_raises(alarms):
    def application(environ, start_response):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        RequestDeadline(application, seconds=3)({}, lambda *a: None)
    assert alarms == [3, 0]


def test_the_alarm_is_cleared_when_closing_the_body_raises(alarms):
    class Failing(Body):
        def close(self) -> None:
            raise OSError("gone")

    response = RequestDeadline(lambda environ, start: Failing(), seconds=3)({}, lambda *a: None)
    with pytest.raises(OSError, match="gone"):
        response.close()
    assert alarms == [3, 0]


def test_a_body_without_close_is_served_and_the_alarm_cleared(alarms):
    response = RequestDeadline(lambda environ, start: [b"x"], seconds=3)({}, lambda *a: None)
    assert list(response) == [b"x"]
    response.close()
    assert alarms == [3, 0]


def test_a_deadline_under_one_second_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        RequestDeadline(lambda environ, start: [], seconds=0)


def run_child(body: str) -> subprocess.CompletedProcess:
    program = "import time\nfrom reviewsvc.deadline import RequestDeadline\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=False)


def test_a_request_past_its_deadline_ends_the_process_even_inside_a_call_that_holds_the_interpreter():
    # time.sleep would let a Python signal handler run; a regular expression that backtracks
    # for minutes holds the interpreter lock throughout, as a stuck C library call would.
    child = run_child(
        """
        import re
        def application(environ, start_response):
            re.match(r"(a+)+$", "a" * 40 + "b")
            return [b"never"]
        RequestDeadline(application, seconds=1)({}, None)
        print("survived")
        """
    )
    assert child.returncode == -signal.SIGALRM
    assert "survived" not in child.stdout


def test_a_request_done_in_time_leaves_no_alarm_behind():
    child = run_child(
        """
        response = RequestDeadline(lambda environ, start: [b"ok"], seconds=1)({}, None)
        list(response)
        response.close()
        time.sleep(2)
        print("survived")
        """
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "survived"
