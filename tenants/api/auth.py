"""API authentication: per-account tokens and portal sessions, both bound to the host's portal."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from tenants.routing import actor_refusal
from tenants.services import token_hash, token_user


class TokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` (or `Bearer <key>`) with a key from /api/v1/tokens/."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the header as: Authorization: Token <key>.")
        user = token_user(header[1])
        if user is None or actor_refusal(user, request._request.portal):
            raise exceptions.AuthenticationFailed("Invalid token for this host.")
        return user, token_hash(header[1])  # request.auth: which token made the call

    def authenticate_header(self, request):
        return "Token"


class SessionAuthentication(authentication.SessionAuthentication):
    """The portal session (already checked against the host by ScopeGuardMiddleware)."""
