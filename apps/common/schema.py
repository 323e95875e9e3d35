from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """Names nested serializers after their view: ``ClipIngestApi.InputSerializer`` becomes the
    component ``ClipIngestApiInput`` instead of one ``Input`` shared by every view."""

    def get_serializer_name(self, serializer, direction) -> str:
        return type(serializer).__qualname__.replace(".", "")
