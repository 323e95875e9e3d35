# One image for web, worker and beat. No secrets are baked in: they come from the environment
# or mounted files (SECRET_KEY_FILE, REVIEWSVC_KEY_FILE).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

RUN groupadd --system reviewsvc && useradd --system --gid reviewsvc --home /app reviewsvc
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=reviewsvc:reviewsvc . .
RUN SECRET_KEY=collectstatic-only DATABASE_URL=sqlite:////tmp/none ALLOWED_HOSTS=localhost \
    REVIEWSVC_KEY_FILE=/tmp/none python manage.py collectstatic --noinput --verbosity 0
USER reviewsvc
EXPOSE 8000
# config/server.py starts granian as every deployment runs it: no X-Forwarded-* header is
# trusted (the app reads the client address itself, from REVIEWSVC_TRUSTED_PROXIES), tokens are
# kept out of both logs, and a request stuck past --timeout takes its worker down for a new one.
CMD ["python", "-m", "config.server", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
