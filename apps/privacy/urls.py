from django.urls import path

from apps.privacy.apis import SubjectOptOutApi

urlpatterns = [
    path("subjects/<str:subject_id>/opt-out", SubjectOptOutApi.as_view(), name="subject-opt-out"),
]
