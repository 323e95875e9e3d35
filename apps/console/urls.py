from django.urls import path

from apps.console import pages

urlpatterns = [
    path("", pages.overview_page, name="console-overview"),
    path("events/", pages.events_page, name="console-events"),
    path("clips/<uuid:clip_id>/", pages.clip_page, name="console-clip"),
    path("reviewers/<str:actor_id>/", pages.reviewer_page, name="console-reviewer"),
    path("facilities/<int:facility_id>/", pages.facility_page, name="console-facility"),
    path("subjects/", pages.subject_page, name="console-subject"),
    path("alerts/", pages.alerts_page, name="console-alerts"),
    path("integrity/", pages.integrity_page, name="console-integrity"),
]
