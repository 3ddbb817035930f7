"""The periodic custom-domain check runs as the platform job ``platform.check_domains``.

A real worker on the queue under test (embedded, Redis), a real DNS server on loopback.
"""

from __future__ import annotations

import pytest

from tenants.jobs.builtin import check_domains
from tests.jobs_support import finished, job_settings, jobs, queue_kind, running_worker, wait_for

__all__ = ["jobs", "job_settings", "queue_kind"]  # fixtures


@pytest.fixture
def tenants_settings_overrides(dns_server):
    return {"dns_resolver": dns_server.address}


def test_the_periodic_job_verifies_published_domains(
    platform,
    create_tenant,
    dns_server,
    jobs,  # noqa: F811
) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    dns_server.zone.publish_txt(view.challenge_name, view.token)
    handle = check_domains.enqueue(platform=platform)
    with running_worker(jobs):
        row = wait_for(lambda: finished(jobs, handle.id))
    assert row.state == "succeeded"
    assert row.result == {"verified": 1}
    assert platform.domains.list(acme.id)[0].status == "verified"
