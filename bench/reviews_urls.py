"""The service's URLs plus the baseline: the same audio bytes, unencrypted, with no checks at all."""

import os

from django.http import FileResponse
from django.urls import path

from config.urls import urlpatterns as service_urlpatterns


def baseline_audio(request):
    # A plain file from disk: no session, no lease, no policy, no event, no decryption.
    return FileResponse(open(os.environ["BENCH_BASELINE_AUDIO"], "rb"), content_type="audio/wav")  # noqa: SIM115


urlpatterns = [path("bench/audio", baseline_audio), *service_urlpatterns]
