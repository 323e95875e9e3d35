"""Zero double leases with 16 reviewers on one queue at once, on PostgreSQL and on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apps.reviews import lease_race
from tests.conftest import requires_postgres

ROOT = Path(__file__).resolve().parents[3]
CLIPS = lease_race.CLIPS


def assert_no_double_lease(report: dict, state: dict) -> None:
    assert report["twice"] == []
    assert report["leased"] == report["distinct"] == CLIPS
    assert state["assignments"] == state["submitted"] == state["transcribed"] == CLIPS


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_reviewers_never_share_a_clip_on_postgresql(settings):
    settings.REVIEWSVC_ALERT_OUTSIDE_HOURS = False
    snapshots = lease_race.seed(reviewers=lease_race.REVIEWERS, clips=CLIPS)
    report = lease_race.many_reviewers(snapshots)
    assert_no_double_lease(report, lease_race.database_state())


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_one_reviewer_asking_from_many_tabs_gets_one_lease_on_postgresql(settings):
    settings.REVIEWSVC_ALERT_OUTSIDE_HOURS = False
    snapshots = lease_race.seed(reviewers=1, clips=lease_race.SAME_REVIEWER_THREADS)
    assert len(lease_race.one_reviewer_many_tabs(snapshots[0])["assignments"]) == 1


def test_sixteen_reviewers_never_share_a_clip_on_sqlite(tmp_path):
    # A file database in a fresh process: the suite's in-memory SQLite cannot be shared by threads
    # the way the embedded mode's WAL file is.
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "tests.apps.reviews.lease_race"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["vendor"] == "sqlite"
    assert_no_double_lease(report["many_reviewers"], report["state"])
    assert len(report["one_reviewer_many_tabs"]["assignments"]) == 1
