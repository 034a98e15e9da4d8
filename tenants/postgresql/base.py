"""The platform's database backend: django-tenants' (each client in its own schema, chosen with
`SET search_path`), without the SET it sends before every statement.

django-tenants forgets the path it set whenever the tenant is chosen again (every `tenant_context`,
every request), so it sends `SET search_path` with the next statement, and, unless
TENANT_LIMIT_SET_CALLS, before each statement after it too: a chat line or a portal page paid a second
round trip per query. This backend remembers the path the session really has, and sends the SET only
when the wanted path differs from it.

When the session's path is known: after a SET that succeeded. PostgreSQL undoes a SET with the
transaction or savepoint that issued it, so the known path is forgotten on ROLLBACK, ROLLBACK TO
SAVEPOINT and when the connection closes (or breaks: Django closes it); a SET kept by COMMIT stays
true. Nothing else in the platform sets the path (tenants/schemas.py puts back what it read).
"""

from __future__ import annotations

from django.utils.asyncio import async_unsafe
from django_tenants.postgresql_backend import base


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self.session_path: list[str] | None = None  # the search_path the session has now, when known
        super().__init__(*args, **kwargs)

    def _handle_search_path(self, cursor=None):
        if not self._setting_search_path and self.schema_name and self.session_path is not None:
            wanted = self._get_cursor_search_paths()
            if wanted == self.session_path:
                self.search_path_set_schemas = wanted
                return
        super()._handle_search_path(cursor)
        if not self._setting_search_path:
            self.session_path = self.search_path_set_schemas  # (None when the SET failed)

    def close(self):
        self.session_path = None
        super().close()

    def connect(self):
        self.session_path = None
        super().connect()

    @async_unsafe
    def rollback(self):
        self.session_path = None
        super().rollback()

    @async_unsafe
    def savepoint_rollback(self, sid):
        try:
            super().savepoint_rollback(sid)
        finally:
            self.session_path = None
