from django.core.management.base import BaseCommand, CommandError

from apps.common.context import RequestContext
from apps.facilities.models import SecondFactor
from apps.facilities.selectors import facility_by_name
from apps.facilities.services import facility_sign_in_change
from reviewsvc.errors import ServiceError


def add_sign_in_arguments(parser, *, creating: bool) -> None:
    parser.add_argument(
        "--second-factor",
        choices=SecondFactor.values,
        default=SecondFactor.ANY if creating else None,
        help="which second factor its reviewers sign in with (default: any)",
    )
    parser.add_argument(
        "--require-workstation",
        action="store_true",
        default=None,
        help="every reviewer request needs an enrolled workstation of this facility",
    )
    if not creating:
        parser.add_argument("--no-require-workstation", action="store_false", dest="require_workstation")
    parser.add_argument(
        "--aaguid",
        action="append",
        dest="aaguids",
        help="allowed authenticator model (AAGUID), attestation verified; repeatable",
    )
    if not creating:
        parser.add_argument("--any-authenticator", action="store_true", help="clear the AAGUID allow-list")


class Command(BaseCommand):
    help = "Change which second factor and which devices count at a facility's sign-ins and requests."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        add_sign_in_arguments(parser, creating=False)

    def handle(self, *args, name, second_factor, require_workstation, aaguids, any_authenticator, **options) -> None:
        facility = facility_by_name(name=name)
        if facility is None:
            raise CommandError(f"No facility {name!r}.")
        try:
            facility = facility_sign_in_change(
                facility=facility,
                second_factor=second_factor,
                require_workstation=require_workstation,
                webauthn_aaguids=[] if any_authenticator else aaguids,
                context=RequestContext.system("manage.py change_facility"),
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"facility {facility.name!r} second factor {facility.second_factor}, workstations "
            f"{'required' if facility.require_workstation else 'not required'}, authenticators "
            f"{', '.join(facility.webauthn_aaguids) or 'any'}"
        )
