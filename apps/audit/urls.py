from django.urls import path

from apps.audit.apis import AuditEventCsvExportApi, AuditEventJsonlExportApi, AuditEventListApi, AuditVerifyApi

urlpatterns = [
    path("events", AuditEventListApi.as_view(), name="audit-events"),
    path("events.csv", AuditEventCsvExportApi.as_view(), name="audit-events-csv"),
    path("events.jsonl", AuditEventJsonlExportApi.as_view(), name="audit-events-jsonl"),
    path("verify", AuditVerifyApi.as_view(), name="audit-verify"),
]
