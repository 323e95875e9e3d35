import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from apps.audit.models import AccessEvent
from apps.clips.audio import clip_audio_chunks
from apps.clips.models import Clip
from apps.common.keys import key_provider
from tests.support import make_wav

pytestmark = pytest.mark.django_db


def test_rotation_rewraps_every_clip_key_and_retires_the_old_version(ingest, capsys):
    audios = [make_wav(seconds=0.5, frequency=f) for f in (300.0, 400.0, 500.0)]
    for audio in audios:
        assert ingest(audio=audio).status_code == 201
    old_version = key_provider().current_version()
    blobs_before = {clip.id: clip.blob_name for clip in Clip.objects.all()}

    call_command("rotate_master_key")

    new_version = key_provider().current_version()
    assert new_version == old_version + 1
    assert old_version not in key_provider().versions()
    clips = list(Clip.objects.order_by("created_at"))
    assert {clip.key_version for clip in clips} == {new_version}
    assert {clip.id: clip.blob_name for clip in clips} == blobs_before  # audio itself untouched
    assert [b"".join(clip_audio_chunks(clip=clip)) for clip in clips] == audios
    assert "clips 3" in capsys.readouterr().out.splitlines()[-1]
    assert AccessEvent.objects.filter(action="key.rotate").exists()
    assert AccessEvent.objects.filter(action="key.rewrap").exists()


def test_an_old_wrapped_key_no_longer_opens_after_its_version_is_retired(ingest):
    ingest()
    clip = Clip.objects.get()
    old_wrapped = bytes(clip.wrapped_key)
    call_command("rotate_master_key")
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
