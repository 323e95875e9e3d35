import os

from django.core.wsgi import get_wsgi_application

from reviewsvc.deadline import RequestDeadline

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_wsgi_application()
# What config/server.py serves: the same application, each request under the deadline it was
# started with (runserver and the test client use ``application``, in threads of one process).
served_application = RequestDeadline(application, seconds=int(os.environ.get("REVIEWSVC_REQUEST_TIMEOUT", "30")))
