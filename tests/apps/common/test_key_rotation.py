import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from apps.audit.models import AccessEvent
from apps.clips.audio import clip_audio_chunks
from apps.clips.models import Clip
from apps.clips.services import clip_storage
from apps.common.context import RequestContext
from apps.common.keys import key_provider
from apps.keys.services import master_key_rotate, wrapped_keys_rewrap
from tests.conftest import retire_unused_key_versions
from tests.support import ingest_clip, make_wav

pytestmark = pytest.mark.django_db


def test_rotation_rewraps_every_clip_key_and_retires_the_old_version_a_grace_period_later(ingest, capsys):
    audios = [make_wav(seconds=0.5, frequency=f) for f in (300.0, 400.0, 500.0)]
    for audio in audios:
        assert ingest(audio=audio).status_code == 201
    old_version = key_provider().current_version()
    blobs_before = {clip.id: clip.blob_name for clip in Clip.objects.all()}

    call_command("rotate_master_key")

    new_version = key_provider().current_version()
    assert new_version == old_version + 1
    assert old_version in key_provider().versions()  # unused, waiting out the grace period
    retire_unused_key_versions()
    assert old_version not in key_provider().versions()
    clips = list(Clip.objects.order_by("created_at"))
    assert {clip.key_version for clip in clips} == {new_version}
    assert {clip.id: clip.blob_name for clip in clips} == blobs_before  # audio itself untouched
    assert [b"".join(clip_audio_chunks(clip=clip)) for clip in clips] == audios
    assert "clips 3" in capsys.readouterr().out.splitlines()[-1]
    retiring, retired = AccessEvent.objects.filter(action="key.rewrap").order_by("seq")
    assert retiring.extra["retiring_versions"] == [old_version]
    assert retired.extra["retired_versions"] == [old_version]
    assert AccessEvent.objects.filter(action="key.rotate").exists()
    assert AccessEvent.objects.filter(action="key.rewrap").exists()


def test_an_old_wrapped_key_no_longer_opens_after_its_version_is_retired(ingest):
    ingest()
    clip = Clip.objects.get()
    old_wrapped = bytes(clip.wrapped_key)
    call_command("rotate_master_key")
    retire_unused_key_versions()
    clip.wrapped_key = old_wrapped
    from reviewsvc.crypto.errors import DecryptionError

    with pytest.raises(DecryptionError):
        b"".join(clip_audio_chunks(clip=clip))


def test_a_clip_key_moved_to_another_clip_does_not_open_it(ingest):
    from reviewsvc.crypto.errors import DecryptionError

    first = Clip.objects.get(pk=ingest(subject_id="a").json()["id"])
    second = Clip.objects.get(pk=ingest(subject_id="a").json()["id"])
    second.wrapped_key = first.wrapped_key
    with pytest.raises(DecryptionError):
        b"".join(clip_audio_chunks(clip=second))
    second.wrapped_key = Clip.objects.get(pk=second.pk).wrapped_key
    second.blob_name = first.blob_name
    with pytest.raises(DecryptionError):
        b"".join(clip_audio_chunks(clip=second))


def test_a_key_provider_without_an_adapter_is_a_configuration_error(settings):
    settings.REVIEWSVC_KEY_PROVIDER = "vault"
    with pytest.raises(ImproperlyConfigured, match="REVIEWSVC_KEY_PROVIDER='vault' has no adapter installed"):
        key_provider()


def test_an_ingest_that_wraps_before_the_scan_and_commits_after_it_stays_readable(monkeypatch):
    storage_class = type(clip_storage())
    real_save = storage_class.save
    old_version = key_provider().current_version()

    def rotate_and_rewrap_meanwhile(self, name, content, **kwargs):
        # The data key is wrapped under the old version; the row does not exist yet.
        saved = real_save(self, name, content, **kwargs)
        monkeypatch.setattr(storage_class, "save", real_save)
        master_key_rotate(context=RequestContext.system("tests"))
        wrapped_keys_rewrap()
        return saved

    monkeypatch.setattr(storage_class, "save", rotate_and_rewrap_meanwhile)
    clip = ingest_clip(subject_id="in-flight")
    assert clip.key_version == old_version
    assert b"".join(clip_audio_chunks(clip=clip)) == make_wav(seconds=1.0)

    retire_unused_key_versions()

    clip.refresh_from_db()
    assert clip.key_version == key_provider().current_version()
    assert old_version not in key_provider().versions()
    assert b"".join(clip_audio_chunks(clip=clip)) == make_wav(seconds=1.0)
