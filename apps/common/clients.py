"""What API-key authentication puts in ``request.auth``: a service client, not a person.

The kernel names the type so that the request context, the scope check and the auditors' views
can tell a key from a session without importing the accounts app, whose ``ApiKey`` is the one
implementation.
"""

from __future__ import annotations


class ApiClient:
    """A service client authenticated by its key: ``pk``, ``name`` and the ``scopes`` it holds."""

    pk: object
    name: str
    scopes: list[str]
