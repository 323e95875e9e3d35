"""Celery: JSON only, ids only; a real worker on the real Redis runs a task and refuses a pickle."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from kombu import Connection

from apps.clips.models import Clip
from config.celery import app
from tests.conftest import requires_postgres, requires_redis
from tests.softhsm import key_provider_env

ROOT = Path(__file__).resolve().parents[3]


def test_the_app_accepts_json_only():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"


class WritesAMarker:
    """Unpickling this would create a file: the proof that a worker ran foreign code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def publish_raw(queue: str, body: bytes, content_type: str, task: str) -> None:
    task_id = str(uuid.uuid4())
    with Connection(settings.REDIS_URL) as conn:
        producer = conn.Producer()
        producer.publish(
            body,
            routing_key=queue,
            exchange="",
            content_type=content_type,
            content_encoding="binary",
            headers={"task": task, "id": task_id, "lang": "py", "argsrepr": "()", "kwargsrepr": "{}"},
            declare=[],
        )


@requires_redis
@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_real_worker_runs_json_tasks_and_refuses_pickle(ingest, service_client, tmp_path, settings):
    settings.REVIEWSVC_OPTOUT_KEEP_AUDIO = True
    clip_id = ingest(subject_id="worker-subject").json()["id"]
    clip = Clip.objects.get(pk=clip_id)
    blob_root = Path(settings.STORAGES["clips"]["OPTIONS"]["location"])
    blob = blob_root / clip.blob_name
    assert blob.exists()
    # Shred the key without running the eager sweep, so the worker has a blob to remove.
    Clip.objects.filter(pk=clip_id).update(wrapped_key=None, key_version=None, status="deleted")

    queue = f"test-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "pickle-ran"
    log = tmp_path / "worker.log"
    db_settings = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REVIEWSVC_VAR_DIR": str(settings.VAR_DIR),
        "REVIEWSVC_STORAGE": str(blob_root),
        **key_provider_env(settings),
        "DATABASE_URL": f"postgres://{db_settings['USER']}@{db_settings['HOST']}:{db_settings['PORT']}/{db_settings['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
            f"--logfile={log}",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        publish_raw(
            queue,
            pickle.dumps(((WritesAMarker(str(marker)),), {}, {})),
            "application/x-python-serialize",
            "clips.blobs_sweep",
        )
        app.send_task("clips.blobs_sweep", queue=queue)
        deadline = time.monotonic() + 60
        while blob.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert not blob.exists(), log.read_text() if log.exists() else "no worker log"
    assert not marker.exists()
    assert "Refusing to deserialize untrusted content of type pickle" in log.read_text()
