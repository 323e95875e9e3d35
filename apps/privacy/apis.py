from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.context import context_from_request
from apps.common.permissions import scope_required
from apps.privacy.services import subject_opt_in, subject_opt_out
from reviewsvc.errors import ServiceError
from reviewsvc.validation import is_subject_id


def valid_subject_id(subject_id: str) -> str:
    if not is_subject_id(subject_id):
        raise ServiceError("validation_error", "subject_id must match [A-Za-z0-9._:-]{1,128}.")
    return subject_id


class SubjectOptOutApi(APIView):
    """The subject is the path, never a body field: a body cannot redirect an opt-out."""

    permission_classes = [scope_required("subjects:manage")]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "OptOutResult",
                {"subject_id": serializers.CharField(), "opted_out": serializers.BooleanField(), "withdrawn": serializers.IntegerField()},
            )
        },
    )
    def put(self, request, subject_id: str) -> Response:
        withdrawn = subject_opt_out(subject_id=valid_subject_id(subject_id), context=context_from_request(request))
        return Response({"subject_id": subject_id, "opted_out": True, "withdrawn": withdrawn})

    @extend_schema(
        request=None,
        responses={200: inline_serializer("OptInResult", {"subject_id": serializers.CharField(), "opted_out": serializers.BooleanField()})},
    )
    def delete(self, request, subject_id: str) -> Response:
        subject_opt_in(subject_id=valid_subject_id(subject_id), context=context_from_request(request))
        return Response({"subject_id": subject_id, "opted_out": False})
