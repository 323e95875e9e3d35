from django.urls import path

from apps.privacy.apis import (
    SubjectAccessLogApi,
    SubjectClipsDeleteApi,
    SubjectDetailApi,
    SubjectExportCreateApi,
    SubjectExportDetailApi,
    SubjectExportDownloadApi,
    SubjectOptOutApi,
)

urlpatterns = [
    path("subjects/<str:subject_id>", SubjectDetailApi.as_view(), name="subject-detail"),
    path("subjects/<str:subject_id>/opt-out", SubjectOptOutApi.as_view(), name="subject-opt-out"),
    path("subjects/<str:subject_id>/clips", SubjectClipsDeleteApi.as_view(), name="subject-clips"),
    path("subjects/<str:subject_id>/access-log", SubjectAccessLogApi.as_view(), name="subject-access-log"),
    path("subjects/<str:subject_id>/exports", SubjectExportCreateApi.as_view(), name="subject-exports"),
    path(
        "subjects/<str:subject_id>/exports/<str:export_id>",
        SubjectExportDetailApi.as_view(),
        name="subject-export-detail",
    ),
    path(
        "subjects/<str:subject_id>/exports/<str:export_id>/download",
        SubjectExportDownloadApi.as_view(),
        name="subject-export-download",
    ),
]
