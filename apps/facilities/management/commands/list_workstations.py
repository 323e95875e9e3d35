from django.core.management.base import BaseCommand, CommandError

from apps.facilities.selectors import facility_by_name, workstation_list


class Command(BaseCommand):
    help = "List enrolled workstations (all, or one facility's): facility, name, state, fingerprint."

    def add_arguments(self, parser) -> None:
        parser.add_argument("facility", nargs="?")

    def handle(self, *args, facility, **options) -> None:
        found = None
        if facility is not None:
            found = facility_by_name(name=facility)
            if found is None:
                raise CommandError(f"No facility {facility!r}.")
        for workstation in workstation_list(facility=found):
            state = f"revoked {workstation.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if workstation.revoked_at else "enrolled"
            self.stdout.write(
                f"{workstation.facility.name}\t{workstation.name}\t{state}\tsha256:{workstation.fingerprint}"
            )
