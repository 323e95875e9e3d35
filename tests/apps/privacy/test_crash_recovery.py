"""A worker SIGKILLed in the middle of an export build, a re-wrap batch or a retention sweep
leaves nothing half-done that the next run does not finish."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from apps.clips.audio import clip_audio_chunks
from apps.clips.models import Clip
from apps.clips.services import clip_storage
from apps.common import outbox
from apps.common.context import RequestContext
from apps.common.keys import key_provider
from apps.common.models import OutboxMessage
from apps.common.outbox import outbox_relay
from apps.keys.services import master_key_rotate, wrapped_keys_rewrap
from apps.privacy.models import Export, ExportStatus
from apps.privacy.services import exports, retention
from tests.apps.common.test_outbox import public_b64
from tests.apps.privacy.conftest import SUBJECT, add_clip
from tests.conftest import die, killed_midway, requires_postgres
from tests.support import make_wav

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_an_export_build_killed_midway_is_built_by_a_later_run(service_client, monkeypatch):
    add_clip()
    add_clip()
    monkeypatch.setattr("apps.common.outbox._publish_soon", lambda message_id: None)
    response = service_client.post(
        f"/api/v1/subjects/{SUBJECT}/exports", {"recipient_public_key": public_b64()}, format="json"
    )
    export_id = response.json()["id"]
    monkeypatch.undo()

    def build_and_die_in_the_audio() -> None:
        real_add_entry = exports._add_entry

        def add_entry(archive, name, chunks):
            if name.startswith("audio/"):
                die()
            return real_add_entry(archive, name, chunks)

        exports._add_entry = add_entry
        exports.export_build(export_id=export_id)

    killed_midway(build_and_die_in_the_audio)

    export = Export.objects.get(pk=export_id)
    assert export.status == ExportStatus.PENDING
    assert export.build_started_at is not None
    OutboxMessage.objects.all().delete()  # the first message was taken by the dead worker
    assert exports.exports_resume() == 0  # a build that may still be running is left alone

    later = timezone.now() + timedelta(seconds=settings.REVIEWSVC_EXPORT_BUILD_TIMEOUT_SECONDS + 1)
    with time_machine.travel(later):
        assert exports.exports_resume() == 1
        outbox_relay()

    export.refresh_from_db()
    assert export.status == ExportStatus.READY
    assert clip_storage().exists(export.blob_name)


def test_a_build_whose_claim_was_taken_over_keeps_out_of_the_way(monkeypatch, service_client):
    add_clip()
    monkeypatch.setattr("apps.common.outbox._publish_soon", lambda message_id: None)
    export_id = service_client.post(
        f"/api/v1/subjects/{SUBJECT}/exports", {"recipient_public_key": public_b64()}, format="json"
    ).json()["id"]
    real_write = exports._write_bundle

    def taken_over_meanwhile(*, export, archive):
        # A slow build: past the timeout, another run claims the export.
        Export.objects.filter(pk=export.pk).update(build_started_at=timezone.now() + timedelta(seconds=1))
        return real_write(export=export, archive=archive)

    monkeypatch.setattr(exports, "_write_bundle", taken_over_meanwhile)
    assert exports.export_build(export_id=export_id) == ExportStatus.PENDING
    assert Export.objects.get(pk=export_id).blob_name == ""
    assert not clip_storage().listdir("exports")[1]


def test_a_rewrap_batch_killed_midway_is_finished_by_the_next_run():
    audios = [make_wav(seconds=0.2, frequency=f) for f in (300.0, 400.0, 500.0)]
    clips = [add_clip() for _ in audios]
    master_key_rotate(context=RequestContext.system("tests"))
    current = key_provider().current_version()

    def rewrap_and_die_after_two_keys() -> None:
        provider_class = type(key_provider())
        real_wrap = provider_class.wrap
        wrapped = []

        def wrap(self, data_key, *, context):
            wrapped.append(1)
            if len(wrapped) > 2:
                die()
            return real_wrap(self, data_key, context=context)

        provider_class.wrap = wrap
        wrapped_keys_rewrap()

    killed_midway(rewrap_and_die_after_two_keys)

    # The batch was one transaction: nothing of it committed, every key still opens.
    assert current not in set(Clip.objects.values_list("key_version", flat=True))
    wrapped_keys_rewrap()
    for clip in clips:
        clip.refresh_from_db()
        assert clip.key_version == current
    assert [len(b"".join(clip_audio_chunks(clip=clip))) for clip in clips] == [len(a) for a in audios]


def test_a_retention_sweep_killed_between_batches_is_finished_by_the_next_run(settings):
    clips = [add_clip() for _ in range(3)]
    Clip.objects.update(created_at=timezone.now() - timedelta(days=settings.REVIEWSVC_RETENTION_DAYS + 1))

    def sweep_and_die_in_the_second_batch() -> None:
        real_shred = retention.clips_shred
        batches = []

        def shred(**kwargs):
            batches.append(1)
            if len(batches) == 2:
                die()
            return real_shred(**kwargs)

        retention.clips_shred = shred
        outbox._publish_soon = lambda message_id: None  # the relay has not come round yet
        retention.retention_sweep(batch_size=1)

    killed_midway(sweep_and_die_in_the_second_batch)

    assert Clip.objects.filter(wrapped_key__isnull=True).count() == 1
    # The first batch's blob removal was recorded with it, so it survives the crash.
    assert OutboxMessage.objects.filter(task="clips.blobs_sweep").exists()

    retention.retention_sweep(batch_size=1)
    outbox_relay()

    assert not Clip.objects.filter(wrapped_key__isnull=False).exists()
    assert not any(clip_storage().exists(clip.blob_name) for clip in clips)
    assert not OutboxMessage.objects.exists()


def test_an_export_whose_build_message_the_broker_lost_is_built_by_a_later_run(service_client, monkeypatch):
    add_clip()
    monkeypatch.setattr("apps.common.outbox._publish_soon", lambda message_id: None)
    export_id = service_client.post(
        f"/api/v1/subjects/{SUBJECT}/exports", {"recipient_public_key": public_b64()}, format="json"
    ).json()["id"]
    monkeypatch.undo()
    OutboxMessage.objects.all().delete()  # published, then lost with a Redis that kept nothing
    assert exports.exports_resume() == 0

    later = timezone.now() + timedelta(seconds=settings.REVIEWSVC_EXPORT_BUILD_TIMEOUT_SECONDS + 1)
    with time_machine.travel(later):
        assert exports.exports_resume() == 1
        outbox_relay()

    assert Export.objects.get(pk=export_id).status == ExportStatus.READY
