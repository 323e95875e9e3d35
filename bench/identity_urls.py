"""The service's URLs plus probes: one trivial endpoint with and without the facility check, and
a bare password check as the login's baseline."""

import json

from django.contrib.auth.models import User
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsReviewer
from apps.common.permissions import IsVerifiedUser
from config.urls import urlpatterns as service_urlpatterns


class VerifiedProbe(APIView):
    """Session + OTP verified, nothing else."""

    permission_classes = [IsVerifiedUser]

    def get(self, request):
        return Response({"ok": True})


class ReviewerProbe(VerifiedProbe):
    """The same, plus the per-request facility check (snapshot, policy, network)."""

    permission_classes = [IsReviewer]


@csrf_exempt
def password_only(request):
    body = json.loads(request.body)
    user = User.objects.filter(username=body["username"]).first()
    ok = user is not None and user.check_password(body["password"])
    return JsonResponse({"ok": ok}, status=200 if ok else 401)


urlpatterns = [
    path("bench/verified", VerifiedProbe.as_view()),
    path("bench/reviewer", ReviewerProbe.as_view()),
    path("bench/password", password_only),
    *service_urlpatterns,
]
