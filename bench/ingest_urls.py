"""The service's URLs plus the baseline: a bare view storing the upload unencrypted, no checks."""

import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as service_urlpatterns


@csrf_exempt
def baseline_upload(request):
    audio = request.FILES["audio"].read()
    name = storages["clips"].save(f"baseline/{uuid.uuid4().hex}.wav", ContentFile(audio))
    return JsonResponse({"name": name}, status=201)


urlpatterns = [path("bench/upload", baseline_upload), *service_urlpatterns]
