"""The data subject's promises, each enforced here: opt-out and deletion (``subjects``),
retention (``retention``), exports (``exports``). Every public name is importable from here."""

from apps.privacy.services.exports import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    EXPORT_LIFETIME,
    ExportSubjectMismatch,
    export_build,
    export_download,
    export_downloadable,
    export_get,
    export_request,
)
from apps.privacy.services.retention import (
    RETENTION_BATCH,
    clips_expire_batch,
    exports_purge,
    retention_sweep,
    transcripts_expire_batch,
)
from apps.privacy.services.subjects import (
    WITHDRAWABLE,
    ids_digest,
    subject_access_report_record,
    subject_clips_delete,
    subject_opt_in,
    subject_opt_out,
)

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "EXPORT_LIFETIME",
    "ExportSubjectMismatch",
    "RETENTION_BATCH",
    "WITHDRAWABLE",
    "clips_expire_batch",
    "export_build",
    "export_download",
    "export_downloadable",
    "export_get",
    "export_request",
    "exports_purge",
    "ids_digest",
    "retention_sweep",
    "subject_access_report_record",
    "subject_clips_delete",
    "subject_opt_in",
    "subject_opt_out",
    "transcripts_expire_batch",
]
