from django.core.management.base import BaseCommand, CommandError

from apps.common.context import RequestContext
from apps.facilities.management.commands.change_facility import add_sign_in_arguments
from apps.facilities.services import facility_create
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Create a facility: the networks its reviewers work from and the regions it may process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. DE")
        parser.add_argument("--network", action="append", required=True, dest="networks", help="CIDR; repeatable")
        parser.add_argument("--region", action="append", required=True, dest="regions", help="repeatable")
        parser.add_argument("--timezone", default="", help="IANA zone, e.g. Europe/Berlin")
        parser.add_argument("--hours", default="", help="e.g. 'Mon-Fri 08:00-18:00' (needs --timezone)")
        add_sign_in_arguments(parser, creating=True)

    def handle(self, *args, name, country, networks, regions, timezone, hours, **options) -> None:
        try:
            facility = facility_create(
                name=name,
                country=country,
                networks=networks,
                regions=regions,
                timezone=timezone,
                hours=hours,
                second_factor=options["second_factor"],
                require_workstation=bool(options["require_workstation"]),
                webauthn_aaguids=options["aaguids"] or [],
                context=RequestContext.system("manage.py create_facility"),
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"facility {facility.name!r} ({facility.country}) networks {', '.join(facility.networks)} "
            f"regions {', '.join(facility.regions)} second factor {facility.second_factor}"
            f"{' workstations required' if facility.require_workstation else ''}: {facility.pk}"
        )
