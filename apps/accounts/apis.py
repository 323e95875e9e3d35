"""Sessions and enrolment over JSON: login, logout, invite accept and confirm."""

from __future__ import annotations

import django_otp
from django.contrib.auth import login, logout
from django.db import transaction
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import CSRFCheck
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsReviewer, IsSignedInPerson
from apps.accounts.selectors import invite_password_problems, reviewer_profile, user_role
from apps.accounts.services import (
    device_factor,
    invite_accept,
    invite_confirm,
    invite_key_options,
    invite_key_register,
    login_verify,
    own_key_add,
    own_key_options,
    webauthn_login_options,
)
from apps.audit.services import event_record
from apps.common.context import context_from_request, request_workstation_set
from apps.common.net import client_address, client_certificate_fingerprint
from apps.common.permissions import IsVerifiedUser
from reviewsvc.errors import ServiceError

# The real limits (password 12..128) are checked where passwords are set; this only keeps a
# hostile megabyte away from the hasher. Usernames are not capped here: an over-long one is an
# unknown user, recorded once, escaped and truncated.
MAX_PASSWORD = 1024
MAX_OTP = 32
MAX_TOKEN = 128
# Longer names are unknown users anyway; the cap keeps the options call from hashing a megabyte.
MAX_USERNAME_INPUT = 1024


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: DRF's CharField would turn 123456 or 1.5 into text."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def enforce_csrf(request) -> None:
    """CSRF for views that have no session yet (DRF checks it only for authenticated sessions)."""
    check = CSRFCheck(lambda req: None)
    check.process_request(request)
    if check.process_view(request, None, (), {}) is not None:
        raise ServiceError("permission_denied", "CSRF check failed; fetch GET /api/v1/auth/login first.")


def no_store(response: Response) -> Response:
    response["Cache-Control"] = "no-store"
    return response


class BeforeSignInApi(APIView):
    """A call made before there is a session (login, invite steps): no authentication, the CSRF
    check done here (DRF does it only for authenticated sessions), the body checked by the
    view's ``InputSerializer``."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    InputSerializer: type[serializers.Serializer]

    def valid_input(self, request) -> dict:
        enforce_csrf(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data


class IsAuthenticatedSession(BasePermission):
    """Any logged-in session, verified or not: leaving must always be possible."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            raise ServiceError("authentication_required")
        return True


@method_decorator(ensure_csrf_cookie, name="get")
class LoginApi(BeforeSignInApi):
    class InputSerializer(serializers.Serializer):
        username = StrictCharField(trim_whitespace=False)
        password = StrictCharField(max_length=MAX_PASSWORD, trim_whitespace=False)
        otp = StrictCharField(max_length=MAX_OTP, trim_whitespace=False, required=False)
        webauthn = serializers.DictField(
            required=False, help_text="A security key's assertion: PublicKeyCredential.toJSON() of a get()."
        )

        def validate(self, attrs):
            if ("otp" in attrs) == ("webauthn" in attrs):
                raise serializers.ValidationError({"otp": ["Send either otp or webauthn."]})
            return attrs

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.CharField()
        facility = serializers.CharField(allow_null=True)

    @extend_schema(responses={200: None}, description="Sets the csrftoken cookie for the login call.")
    def get(self, request):
        get_token(request)
        return Response({"csrf": "set"})

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        data = self.valid_input(request)
        username = data["username"]
        context = context_from_request(request, username=username)
        user, device, workstation = login_verify(
            username=username,
            password=data["password"],
            otp=data.get("otp"),
            webauthn=data.get("webauthn"),
            client_address=client_address(request),
            client_certificate=client_certificate_fingerprint(request),
            context=context,
        )
        django_request = request._request
        # login() cycles the session key, so a session id planted before login is worthless.
        login(django_request, user, backend="django.contrib.auth.backends.ModelBackend")
        django_otp.login(django_request, device)
        request_workstation_set(django_request, workstation)
        reviewer = reviewer_profile(user=user)
        with transaction.atomic():
            event_record(
                action="auth.login",
                context=context_from_request(django_request),
                facility_id=reviewer.facility_id if reviewer else None,
                extra={"factor": device_factor(device)},
            )
        body = {
            "username": user.get_username(),
            "role": user_role(user=user),
            "facility": reviewer.facility.name if reviewer else None,
        }
        return no_store(Response(self.OutputSerializer(body).data))


class LogoutApi(APIView):
    permission_classes = [IsAuthenticatedSession]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        with transaction.atomic():
            event_record(action="auth.logout", context=context_from_request(request))
        logout(request._request)  # flushes the session row: the old cookie is dead
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionDetailApi(APIView):
    """Who is signed in: any OTP-verified session (pages use it to greet and to route)."""

    permission_classes = [IsVerifiedUser]

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.CharField()
        facility = serializers.CharField(allow_null=True)

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request):
        reviewer = reviewer_profile(user=request.user)
        body = {
            "username": request.user.get_username(),
            "role": user_role(user=request.user),
            "facility": reviewer.facility.name if reviewer else None,
        }
        return no_store(Response(self.OutputSerializer(body).data))


class ReviewerDetailApi(APIView):
    """The signed-in reviewer as the facility check sees them on this very request."""

    permission_classes = [IsReviewer]

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        facility = serializers.CharField()
        country = serializers.CharField()
        languages = serializers.ListField(child=serializers.CharField())
        regions = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request):
        snapshot = request.reviewer
        body = {
            "username": snapshot.username,
            "facility": snapshot.facility_name,
            "country": snapshot.facility_country,
            "languages": list(snapshot.languages),
            "regions": sorted(snapshot.facility_regions),
        }
        return no_store(Response(self.OutputSerializer(body).data))


class InviteAcceptApi(BeforeSignInApi):
    """The token travels in the body, never in a URL, so no access log or request warning holds it."""

    class InputSerializer(serializers.Serializer):
        token = StrictCharField(max_length=MAX_TOKEN, trim_whitespace=False)
        password = StrictCharField(max_length=MAX_PASSWORD, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        otpauth_uri = serializers.CharField()
        manual_key = serializers.CharField()
        qr_svg = serializers.CharField(help_text="The otpauth URI as an SVG QR code (data: URI).")
        second_factor = serializers.CharField(help_text="What the facility accepts: totp, webauthn or any.")

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        data = self.valid_input(request)
        enrolment = invite_accept(
            token=data["token"],
            password=data["password"],
            client_address=client_address(request),
            context=context_from_request(request),
        )
        body = {
            "otpauth_uri": enrolment.otpauth_uri,
            "manual_key": enrolment.manual_key,
            "qr_svg": enrolment.qr_svg_data_uri,
            "second_factor": enrolment.second_factor,
        }
        return no_store(Response(self.OutputSerializer(body).data))


class InviteConfirmApi(BeforeSignInApi):
    class InputSerializer(serializers.Serializer):
        token = StrictCharField(max_length=MAX_TOKEN, trim_whitespace=False)
        otp = StrictCharField(max_length=MAX_OTP, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        data = self.valid_input(request)
        user = invite_confirm(
            token=data["token"],
            otp=data["otp"],
            client_address=client_address(request),
            context=context_from_request(request),
        )
        return no_store(Response(self.OutputSerializer({"username": user.get_username()}).data))


class InvitePasswordCheckApi(BeforeSignInApi):
    """Live feedback for the invite page: the validators ``accept`` applies, nothing stored or logged."""

    class InputSerializer(serializers.Serializer):
        token = StrictCharField(max_length=MAX_TOKEN, trim_whitespace=False)
        password = StrictCharField(max_length=MAX_PASSWORD, trim_whitespace=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        ok = serializers.BooleanField()
        problems = serializers.ListField(child=serializers.CharField())

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        data = self.valid_input(request)
        problems = invite_password_problems(token=data["token"], password=data["password"])
        return no_store(Response(self.OutputSerializer({"ok": not problems, "problems": problems}).data))


class WebAuthnLoginOptionsApi(BeforeSignInApi):
    """Options for a security-key sign-in by this username, for ``navigator.credentials.get``.

    Answers the same way for every name, known or not (decoy key ids; see the accounts app's
    webauthn module), so it tells nobody which accounts exist.
    """

    class InputSerializer(serializers.Serializer):
        username = StrictCharField(trim_whitespace=False, max_length=MAX_USERNAME_INPUT)

    @extend_schema(request=InputSerializer, responses={200: None})
    def post(self, request):
        data = self.valid_input(request)
        return no_store(Response(webauthn_login_options(username=data["username"])))


class InviteKeyOptionsApi(BeforeSignInApi):
    """Creation options for the invited user's security key (after the password step)."""

    class InputSerializer(serializers.Serializer):
        token = StrictCharField(max_length=MAX_TOKEN)

    @extend_schema(request=InputSerializer, responses={200: None})
    def post(self, request):
        data = self.valid_input(request)
        options = invite_key_options(
            token=data["token"],
            client_address=client_address(request),
            context=context_from_request(request),
        )
        return no_store(Response(options))


class InviteKeyRegisterApi(BeforeSignInApi):
    """Register the key instead of an authenticator app: the account is active afterwards."""

    class InputSerializer(serializers.Serializer):
        token = StrictCharField(max_length=MAX_TOKEN)
        credential = serializers.DictField(help_text="PublicKeyCredential.toJSON() of a create().")

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        data = self.valid_input(request)
        user = invite_key_register(
            token=data["token"],
            credential=data["credential"],
            client_address=client_address(request),
            context=context_from_request(request),
        )
        return no_store(Response(self.OutputSerializer({"username": user.get_username()}).data))


class OwnKeyOptionsApi(APIView):
    """Creation options for one more security key of the signed-in person (a spare, a passkey)."""

    permission_classes = [IsSignedInPerson]

    @extend_schema(request=None, responses={200: None})
    def post(self, request):
        return no_store(Response(own_key_options(user=request.user)))


class OwnKeyAddApi(APIView):
    """Register that key; it counts from the next sign-in."""

    permission_classes = [IsSignedInPerson]

    class InputSerializer(serializers.Serializer):
        credential = serializers.DictField(help_text="PublicKeyCredential.toJSON() of a create().")

    class OutputSerializer(serializers.Serializer):
        aaguid = serializers.CharField()
        attested = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        registration = own_key_add(
            user=request.user, credential=data.validated_data["credential"], context=context_from_request(request)
        )
        body = {"aaguid": registration.credential.aaguid, "attested": registration.attested}
        return no_store(Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED))
