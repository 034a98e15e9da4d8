"""Export jobs and push destinations (public schema, beside records.Cdr).

Each row belongs to one scope, a brand or one client (`client` set), and is reached through
`restrict(actor)`: another scope's job or destination is a 404.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Role
from tenants.scoping import ProviderScopedQuerySet


class ExportJobQuerySet(ProviderScopedQuerySet):
    def restrict(self, actor):
        """God: all; a brand operator: the brand's jobs; a client operator: the client's; a user: their own."""
        if actor.role == Role.USER:
            return self.filter(requested_by_id=actor.pk)
        if actor.role == Role.BRAND:
            return self.filter(brand_id=actor.brand_id, client__isnull=True)
        return super().restrict(actor)


class ExportJob(models.Model):
    """A CSV export of call records too big to stream in a request, written to a file by a Celery task."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    requested_by = models.ForeignKey("tenants.User", on_delete=models.CASCADE, related_name="+")
    brand = models.ForeignKey("tenants.Brand", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey("tenants.Client", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    filters = models.JSONField(default=dict, blank=True, help_text="since, until (ISO), client, service, direction.")
    bom = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Rows counted when the job started.")
    rows = models.PositiveIntegerField(default=0, help_text="Rows written.")
    size = models.PositiveBigIntegerField(default=0)
    file = models.CharField(max_length=200, blank=True, help_text="Under OCX_EXPORTS_DIR.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ExportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class DestinationQuerySet(ProviderScopedQuerySet):
    """God all, a brand its own destinations and its clients', a client operator the client's."""

    def due(self, now):
        """Enabled, its time come or a run asked for, and no live push holding it."""
        return self.filter(enabled=True).filter(
            models.Q(next_run_at__lte=now) | models.Q(run_requested_at__isnull=False),
            models.Q(lease_until__isnull=True) | models.Q(lease_until__lt=now),
        )


class PushDestination(models.Model):
    """A server that receives a brand's or a client's call records as CSV files on a schedule."""

    class Protocol(models.TextChoices):
        FTP = "ftp", "FTP"
        FTPS = "ftps", _("FTPS (explicit TLS)")
        SFTP = "sftp", "SFTP"

    class Schedule(models.TextChoices):
        EVERY = "every", _("Every N minutes")
        HOURLY = "hourly", _("Hourly")
        DAILY = "daily", _("Daily at a time")

    brand = models.ForeignKey("tenants.Brand", on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey("tenants.Client", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                               help_text=_("Empty: every client of the brand."))  # fmt: skip
    name = models.CharField(max_length=100)
    protocol = models.CharField(max_length=4, choices=Protocol.choices)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(null=True, blank=True, help_text=_("Empty: 21 for FTP and FTPS, 22 for SFTP."))
    username = models.CharField(max_length=100)
    secret = models.TextField(blank=True, help_text="Password or SSH private key, encrypted (exports.crypto).")
    uses_key = models.BooleanField(default=False, help_text=_("SFTP: the secret is a private key."))
    host_key = models.TextField(
        blank=True, help_text=_("SFTP: the server's public key; empty: kept from the first login.")
    )
    tls_verify = models.BooleanField(default=True, help_text=_("FTPS: check the server's certificate."))
    remote_dir = models.CharField(max_length=255, blank=True)
    schedule = models.CharField(max_length=6, choices=Schedule.choices, default=Schedule.HOURLY)
    every_minutes = models.PositiveIntegerField(default=15)
    daily_at = models.TimeField(
        null=True, blank=True, help_text=_("Daily: in the client's time zone (a brand's: UTC).")
    )
    bom = models.BooleanField(default=False)
    alert_emails = models.CharField(max_length=500, blank=True, help_text=_("Empty: the scope's operators."))
    enabled = models.BooleanField(default=True)
    starts_at = models.DateTimeField(help_text="Records finished from this moment on are sent.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Where the pushes stand: the upper bound of the last verified file (records finished before it
    # were sent), the last record sent, the next run, the failures since the last success.
    cursor_at = models.DateTimeField()
    last_cdr_ended_at = models.DateTimeField(null=True, blank=True)
    last_cdr_id = models.BigIntegerField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField()
    # The lease of the push running now: short, renewed while it runs (exports/push.py), so a worker
    # killed mid-push frees the destination within OCX_PUSH_LEASE_SECONDS.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_holder = models.CharField(max_length=200, blank=True, help_text="The worker running a push: host:pid.")
    run_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="Run now was asked: runs as soon as no push holds the destination."
    )
    failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    objects = DestinationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["next_run_at"], name="push_due", condition=models.Q(enabled=True))]

    def __str__(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        default = 22 if self.protocol == self.Protocol.SFTP else 21
        return f"{self.protocol}://{self.host}:{self.port or default}/{self.remote_dir.strip('/')}"


class PushFile(models.Model):
    """One CSV file of a destination: the records it carries are fixed once bytes may have reached the
    server, so every retry sends the same name and never a second copy."""

    class Status(models.TextChoices):
        OPEN = "open", _("Not sent yet")
        SENDING = "sending", _("Sending")
        DONE = "done", _("Sent and verified")

    destination = models.ForeignKey(PushDestination, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200)
    window_from = models.DateTimeField()
    window_to = models.DateTimeField(help_text="Records finished before this moment, when the file was made.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    rows = models.PositiveIntegerField(default=0)
    size = models.PositiveBigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-window_to", "-id"]
        constraints = [models.UniqueConstraint(fields=["destination", "name"], name="push_file_name_unique")]

    def __str__(self) -> str:
        return self.name


class PushedCdr(models.Model):
    """A call record claimed by one file of a destination: the unique pair makes a second copy impossible."""

    destination = models.ForeignKey(PushDestination, on_delete=models.CASCADE, related_name="+")
    file = models.ForeignKey(PushFile, on_delete=models.CASCADE, related_name="records")
    cdr_id = models.BigIntegerField()
    ended_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["destination", "cdr_id"], name="pushed_cdr_once")]
        indexes = [models.Index(fields=["file", "ended_at", "cdr_id"], name="pushed_cdr_file")]

    def __str__(self) -> str:
        return f"record {self.cdr_id} in file {self.file_id}"
