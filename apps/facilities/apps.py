from django.apps import AppConfig


class FacilitiesConfig(AppConfig):
    name = "apps.facilities"
    label = "facilities"

    def ready(self) -> None:
        from apps.audit.services import facility_name_lookup_register
        from apps.facilities.selectors import facility_name

        facility_name_lookup_register(lambda facility_id: facility_name(facility_id=facility_id))
