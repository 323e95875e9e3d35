from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.common.context import RequestContext
from apps.facilities.selectors import facility_by_name
from apps.facilities.services import workstation_enrol
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Enrol a workstation of a facility by its client certificate (SHA-256 fingerprint stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("facility")
        parser.add_argument("name")
        parser.add_argument("--cert", required=True, type=Path, help="the workstation's certificate, PEM")

    def handle(self, *args, facility, name, cert, **options) -> None:
        found = facility_by_name(name=facility)
        if found is None:
            raise CommandError(f"No facility {facility!r}.")
        try:
            pem = cert.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {cert}: {exc.strerror}") from None
        try:
            workstation = workstation_enrol(
                facility=found,
                name=name,
                certificate_pem=pem,
                context=RequestContext.system("manage.py enrol_workstation"),
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"workstation {workstation.name!r} at {found.name!r} sha256 {workstation.fingerprint}")
