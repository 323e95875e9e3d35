"""What a data subject may learn about their own data: opt-out state, clip counts, who listened."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import QuerySet

from apps.audit.models import Outcome
from apps.audit.selectors import event_list
from apps.audit.services import subject_pseudonym
from apps.clips.models import Subject
from apps.clips.selectors import subject_clip_counts
from apps.common.keys import key_provider
from apps.facilities.models import Facility

# The reviewer-side accesses a subject is told about: being handed the clip, hearing it, and
# transcribing it. Service-client calls (ingest, status) are the subject's own side.
REVIEWER_ACCESS_ACTIONS = ("review.lease", "clip.audio", "transcript.submit")
REVIEWER_PSEUDONYM_PURPOSE = "reviewer-for-subject"
REVIEWER_PSEUDONYM_HEX = 24


@dataclass(frozen=True)
class SubjectStatus:
    subject_id: str
    opted_out: bool
    opted_out_at: datetime | None
    clips: dict[str, int]


def subject_status(*, subject_id: str) -> SubjectStatus:
    """Opt-out state and clip counts by status.

    An id the service never saw answers like a subject with no clips who has not opted out:
    that is its true state, and the caller (the product's backend, which mints these ids)
    learns nothing it does not already know.
    """
    subject = Subject.objects.filter(subject_id=subject_id).only("opted_out", "opted_out_at").first()
    return SubjectStatus(
        subject_id=subject_id,
        opted_out=bool(subject and subject.opted_out),
        opted_out_at=subject.opted_out_at if subject else None,
        clips=subject_clip_counts(subject_id=subject_id),
    )


@dataclass(frozen=True)
class AccessLogEntry:
    time: datetime
    action: str
    clip: str | None
    reviewer: str
    facility: str
    country: str
    # Kept to assert, before an entry is exported, that it is this subject's; never shown.
    subject_pseudonym: str

    def as_dict(self) -> dict:
        data = asdict(self)
        del data["subject_pseudonym"]
        data["time"] = self.time.isoformat()
        return data


def reviewer_accesses(*, subject_id: str) -> QuerySet:
    """Granted reviewer accesses to the subject's clips, newest first (the list the API pages)."""
    return (
        event_list(subject_id=subject_id, outcome=Outcome.GRANTED)
        .filter(actor_kind="reviewer", action__in=REVIEWER_ACCESS_ACTIONS)
        .order_by("-seq")
    )


def access_log_entries(events: Iterable, *, subject_id: str) -> list[AccessLogEntry]:
    """Events as the subject sees them: no reviewer name or id, only a pseudonym for this subject.

    The pseudonym is an HMAC of the subject's pseudonym and the reviewer's id under its own key,
    so one reviewer looks the same across one subject's report but cannot be followed from one
    subject's report to another's.
    """
    events = list(events)
    pseudonym = subject_pseudonym(subject_id)
    provider = key_provider()
    facility_ids = {event.facility_id for event in events if event.facility_id is not None}
    countries = dict(Facility.objects.filter(id__in=facility_ids).values_list("id", "country"))
    return [
        AccessLogEntry(
            time=event.time,
            action=event.action,
            clip=str(event.clip_id) if event.clip_id else None,
            reviewer=provider.mac(REVIEWER_PSEUDONYM_PURPOSE, f"{pseudonym}\x00{event.actor_id}".encode()).hex()[
                :REVIEWER_PSEUDONYM_HEX
            ],
            facility=event.facility_name,
            country=countries.get(event.facility_id, ""),
            subject_pseudonym=event.subject_pseudonym,
        )
        for event in events
    ]


def subject_access_log_entries(*, subject_id: str, chunk_size: int = 1000) -> Iterator[AccessLogEntry]:
    """Every entry, oldest first, a chunk at a time (for the export)."""
    events = reviewer_accesses(subject_id=subject_id).order_by("seq")
    last = 0
    while chunk := list(events.filter(seq__gt=last)[:chunk_size]):
        yield from access_log_entries(chunk, subject_id=subject_id)
        last = chunk[-1].seq
