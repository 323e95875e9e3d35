"""The clip lifecycle: one table of allowed status changes, held by the clips app's transition functions."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from django.db import transaction

from apps.clips.models import Clip, ClipStatus, Subject
from apps.clips.services import (
    CLIP_TRANSITIONS,
    IllegalClipTransition,
    clip_transition,
    clips_transition,
    subject_lock,
    subject_opted_out_set,
)
from tests.support import ingest_clip

pytestmark = pytest.mark.django_db

S = ClipStatus
# The contract, restated: every status change a clip may make, and nothing else.
ALLOWED = {
    (S.QUEUED, S.ASSIGNED),
    (S.QUEUED, S.WITHDRAWN),
    (S.QUEUED, S.DELETED),
    (S.QUEUED, S.EXPIRED),
    (S.ASSIGNED, S.QUEUED),
    (S.ASSIGNED, S.TRANSCRIBED),
    (S.ASSIGNED, S.WITHDRAWN),
    (S.ASSIGNED, S.DELETED),
    (S.ASSIGNED, S.EXPIRED),
    (S.TRANSCRIBED, S.DELETED),
    (S.TRANSCRIBED, S.EXPIRED),
    (S.WITHDRAWN, S.DELETED),
    (S.WITHDRAWN, S.EXPIRED),
    (S.EXPIRED, S.DELETED),
}
EVERY_PAIR = list(itertools.product(S.values, S.values))
APPS = Path(__file__).resolve().parents[3] / "apps"


def clip_in(status: str) -> Clip:
    clip = ingest_clip()
    Clip.objects.filter(pk=clip.pk).update(status=status)
    clip.refresh_from_db()
    return clip


def test_the_table_allows_exactly_the_listed_changes():
    table = {(source, target) for source, targets in CLIP_TRANSITIONS.items() for target in targets}
    assert table == ALLOWED
    assert set(CLIP_TRANSITIONS) == set(S.values)


@pytest.mark.parametrize(("source", "target"), sorted(ALLOWED))
def test_an_allowed_change_moves_the_clip(source, target):
    clip = clip_in(source)
    with transaction.atomic():
        clip_transition(clip=clip, to=target)
    clip.refresh_from_db()
    assert clip.status == target


@pytest.mark.parametrize(("source", "target"), sorted(set(EVERY_PAIR) - ALLOWED))
def test_any_other_change_is_refused_and_changes_nothing(source, target):
    clip = clip_in(source)
    with pytest.raises(IllegalClipTransition), transaction.atomic():
        clip_transition(clip=clip, to=target)
    clip.refresh_from_db()
    assert clip.status == source


def test_a_bulk_change_leaves_clips_that_may_not_make_it_as_they_are():
    queued, transcribed = clip_in(S.QUEUED), clip_in(S.TRANSCRIBED)
    with transaction.atomic():
        moved = clips_transition(clips=Clip.objects.filter(pk__in=[queued.pk, transcribed.pk]), to=S.WITHDRAWN)
    assert moved == 1
    assert dict(Clip.objects.values_list("pk", "status")) == {queued.pk: S.WITHDRAWN, transcribed.pk: S.TRANSCRIBED}


def test_shredding_with_a_change_destroys_the_key():
    clip = clip_in(S.ASSIGNED)
    with transaction.atomic():
        clip_transition(clip=clip, to=S.TRANSCRIBED, shred=True)
    clip.refresh_from_db()
    assert (clip.status, clip.wrapped_key, clip.key_version) == (S.TRANSCRIBED, None, None)


def test_an_unknown_status_is_refused():
    clip = clip_in(S.QUEUED)
    with pytest.raises(IllegalClipTransition):
        clips_transition(clips=Clip.objects.filter(pk=clip.pk), to="lost")


def test_a_stale_clip_is_refused_when_its_row_moved_on():
    clip = clip_in(S.ASSIGNED)
    Clip.objects.filter(pk=clip.pk).update(status=S.WITHDRAWN)
    with pytest.raises(IllegalClipTransition, match="no longer assigned"), transaction.atomic():
        clip_transition(clip=clip, to=S.QUEUED)
    assert Clip.objects.get(pk=clip.pk).status == S.WITHDRAWN


def test_opting_out_again_keeps_the_first_moment():
    with transaction.atomic():
        subject = subject_lock(subject_id="subject-9")
        subject_opted_out_set(subject=subject, opted_out=True)
    first = Subject.objects.get(pk="subject-9").opted_out_at
    with transaction.atomic():
        subject_opted_out_set(subject=subject_lock(subject_id="subject-9"), opted_out=True)
    assert Subject.objects.get(pk="subject-9").opted_out_at == first
    with transaction.atomic():
        subject_opted_out_set(subject=subject_lock(subject_id="subject-9"), opted_out=False)
    assert Subject.objects.filter(pk="subject-9", opted_out=False, opted_out_at=None).exists()


def _writes_outside_clips(pattern: str) -> list[str]:
    found = []
    for path in sorted(APPS.rglob("*.py")):
        if path.is_relative_to(APPS / "clips") or "migrations" in path.parts:
            continue
        text = path.read_text()
        found += [f"{path.relative_to(APPS)}: {match.group(0)}" for match in re.finditer(pattern, text)]
    return found


def test_no_other_app_writes_a_clip_status_or_the_opt_out_flag():
    assert _writes_outside_clips(r"\.update\([^)]*\bstatus=ClipStatus") == []
    assert _writes_outside_clips(r"\.opted_out(_at)?\s*=[^=]") == []
