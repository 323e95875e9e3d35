"""Gunicorn settings for every way the service runs (the Dockerfile, bin/run-embedded).

Logs: the access log line names method, path (never the query string), status, size and time;
no referrer (a page URL) and no user agent. Every handler of gunicorn's error and access logs
gets the filter Django's handlers have, which redacts anything token-shaped, so an invite token
or API key in a stale link or a client's mistake never reaches a log file.

``forwarded_allow_ips`` is given explicitly where gunicorn is started (the Dockerfile,
bin/run-embedded); the client address itself is read by the app, from REVIEWSVC_TRUSTED_PROXIES.
"""

from gunicorn.glogging import Logger

from reviewsvc.redact import RedactSecretsFilter

access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


class RedactingLogger(Logger):
    """Gunicorn's logger, with the redacting filter on every handler it sets up."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
                    handler.addFilter(RedactSecretsFilter())


logger_class = RedactingLogger
