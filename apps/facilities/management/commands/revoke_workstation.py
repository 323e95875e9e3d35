from django.core.management.base import BaseCommand, CommandError

from apps.common.context import RequestContext
from apps.facilities.selectors import facility_by_name
from apps.facilities.services import workstation_revoke
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Revoke a workstation: its certificate no longer counts from the next request on."

    def add_arguments(self, parser) -> None:
        parser.add_argument("facility")
        parser.add_argument("name")

    def handle(self, *args, facility, name, **options) -> None:
        found = facility_by_name(name=facility)
        if found is None:
            raise CommandError(f"No facility {facility!r}.")
        try:
            workstation = workstation_revoke(
                facility=found, name=name, context=RequestContext.system("manage.py revoke_workstation")
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"workstation {workstation.name!r} at {found.name!r} revoked")
