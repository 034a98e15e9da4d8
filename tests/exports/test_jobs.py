"""Exports too big to stream become jobs: a status row, progress, a file under OCX_EXPORTS_DIR, a download
only its own scope can reach (another company's job is a 404)."""

from __future__ import annotations

import csv
import io

import pytest

from exports.models import ExportJob
from exports.services import export_job_progress
from exports.tasks import cdr_export_run
from tests.exports.test_export import EXPORT


@pytest.fixture
def small_limit(settings, monkeypatch):
    monkeypatch.setitem(settings.OCX_EXPORTS, "stream_max_rows", 2)


@pytest.fixture
def many(world, make_cdr):
    return [make_cdr(world.client_a1, minutes=i, caller_name=f"=cmd|{i}") for i in range(5)] + [
        make_cdr(world.client_b1, minutes=1)
    ]


def test_api_export_over_the_limit_is_a_job(world, api, small_limit, many, exports_dir):
    client = api(world.client_a1_op)
    answer = client.get(EXPORT, {"since": "2026-11-01"})
    assert answer.status_code == 202, answer.content
    job = answer.json()
    assert (job["status"], job["progress"], job["download"]) == ("queued", 0, None)
    assert job["filters"]["since"] == "2026-11-01T00:00:00+00:00"

    assert cdr_export_run(job["id"]) == "done"  # what the worker runs

    done = client.get(f"/api/v1/cdr-exports/{job['id']}/").json()
    assert (done["status"], done["progress"], done["rows"], done["total"]) == ("done", 100, 5, 5)
    assert done["download"] == f"/api/v1/cdr-exports/{job['id']}/download.csv"
    stored = ExportJob.objects.get(pk=job["id"])
    assert (exports_dir / "jobs" / stored.file).exists() and stored.size > 0
    response = client.get(done["download"])
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 5 and {r["company"] for r in rows} == {"Client a1"}
    assert {r["caller_name"][:2] for r in rows} == {"'="}, "formula cells neutralised in job files too"
    assert [job["id"]] == [j["id"] for j in client.get("/api/v1/cdr-exports/").json()["results"]]


def test_another_scopes_job_is_not_found(world, api, small_limit, many):
    job = api(world.client_a1_op).post("/api/v1/cdr-exports/", {}, format="json").json()
    cdr_export_run(job["id"])
    for outsider in (world.client_b1_op, world.brand_b_op, world.client_a2_op, world.user_a1):
        client = api(outsider)
        assert client.get(f"/api/v1/cdr-exports/{job['id']}/").status_code == 404, outsider
        assert client.get(f"/api/v1/cdr-exports/{job['id']}/download.csv").status_code == 404, outsider
        assert client.get("/api/v1/cdr-exports/").json()["results"] == []
    assert api(world.god).get(f"/api/v1/cdr-exports/{job['id']}/download.csv").status_code == 200
    assert api(world.client_a1_op).get(f"/api/v1/cdr-exports/{job['id']}/").status_code == 200


def test_portal_job_progress_and_download(world, portal, small_limit, many):
    operator = portal(world.brand_a_op)
    response = operator.post("/exports/", {"since": "2026-11-01", "until": "2026-11-30"})
    assert response.status_code == 302
    job = ExportJob.objects.get(requested_by=world.brand_a_op)
    page = operator.get("/exports/").content.decode()
    assert f'id="job-{job.pk}"' in page and "Queued" in page and "location.reload()" in page, "refreshes"
    assert '<progress max="100" value="0">' in page

    cdr_export_run(job.pk)
    job.refresh_from_db()
    assert export_job_progress(job) == 100 and job.rows == 5
    page = operator.get("/exports/").content.decode()
    assert f"/exports/{job.pk}/download.csv" in page and "location.reload()" not in page
    assert '<progress max="100" value="100">' in page
    body = b"".join(operator.get(f"/exports/{job.pk}/download.csv").streaming_content)
    assert len(body.decode().splitlines()) == 6
    assert portal(world.brand_b_op).get(f"/exports/{job.pk}/download.csv").status_code == 404
    assert portal(world.client_a1_op).get(f"/exports/{job.pk}/download.csv").status_code == 404, "a brand's job"


def test_a_failed_job_says_why(world, small_limit, many, monkeypatch):
    job = ExportJob.objects.create(requested_by=world.god, filters={})

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("exports.services.cdr_csv", broken)
    assert cdr_export_run(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error == "disk full" and job.finished_at is not None
