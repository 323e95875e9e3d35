"""Baseline alerts: the console's deviation view, raised as alert events by an hourly task.

The computation is ``apps.audit.statistics.baselines`` (thresholds in
``reviewsvc.audit.insights``), the same one the console's alerts page shows, so a flag on the
page and an ``alert.baseline`` event never disagree. Each reviewer, facility and metric raises
at most one alert per UTC day.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AccessEvent
from apps.audit.rollups import event_counts_catch_up
from apps.audit.services import event_record
from apps.audit.statistics import baselines
from apps.common.context import RequestContext

ACTION = "alert.baseline"


def baseline_alerts_raise(*, now: datetime | None = None) -> int:
    """Record one ``alert.baseline`` event per new deviation today; returns how many it raised."""
    now = now or timezone.now()
    event_counts_catch_up()
    day = now.date().isoformat()
    raised = 0
    for row in baselines(now=now):
        for metric in row.metrics:
            if not metric.flagged:
                continue
            marker = f'"day":"{day}","key":"{row.key}","kind":"{row.kind}","label"'
            with transaction.atomic():
                already = AccessEvent.objects.filter(action=ACTION, extra__contains=marker).filter(
                    extra__contains=f'"metric":"{metric.metric}"'
                )
                if already.exists():
                    continue
                event_record(
                    action=ACTION,
                    context=RequestContext.system("audit.baseline_alerts"),
                    facility_id=int(row.key) if row.kind == "facility" else None,
                    extra={
                        "day": day,
                        "key": row.key,
                        "kind": row.kind,
                        "label": row.label,
                        "mean": metric.mean,
                        "metric": metric.metric,
                        "threshold": metric.threshold,
                        "today": metric.today,
                    },
                )
            raised += 1
    return raised
