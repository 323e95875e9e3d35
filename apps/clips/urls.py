from django.urls import path

from apps.clips.apis import ClipDetailApi, ClipIngestApi

urlpatterns = [
    path("clips", ClipIngestApi.as_view(), name="clip-ingest"),
    path("clips/<str:clip_id>", ClipDetailApi.as_view(), name="clip-detail"),
]
