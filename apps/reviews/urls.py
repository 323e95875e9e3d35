from django.urls import path

from apps.reviews.apis import (
    AssignmentAudioApi,
    AssignmentDetailApi,
    AssignmentHeartbeatApi,
    AssignmentReleaseApi,
    AssignmentRetakeApi,
    ClipTranscriptApi,
    ReviewNextApi,
    ReviewProgressApi,
    TranscriptSubmitApi,
)

urlpatterns = [
    path("review/next", ReviewNextApi.as_view(), name="review-next"),
    path("review/assignments/<str:assignment_id>", AssignmentDetailApi.as_view(), name="review-assignment"),
    path(
        "review/assignments/<str:assignment_id>/heartbeat",
        AssignmentHeartbeatApi.as_view(),
        name="review-assignment-heartbeat",
    ),
    path(
        "review/assignments/<str:assignment_id>/release",
        AssignmentReleaseApi.as_view(),
        name="review-assignment-release",
    ),
    path(
        "review/assignments/<str:assignment_id>/retake",
        AssignmentRetakeApi.as_view(),
        name="review-assignment-retake",
    ),
    path("review/progress", ReviewProgressApi.as_view(), name="review-progress"),
    path("review/assignments/<str:assignment_id>/audio", AssignmentAudioApi.as_view(), name="review-assignment-audio"),
    path(
        "review/assignments/<str:assignment_id>/transcript",
        TranscriptSubmitApi.as_view(),
        name="review-assignment-transcript",
    ),
    path("clips/<str:clip_id>/transcript", ClipTranscriptApi.as_view(), name="clip-transcript"),
]
