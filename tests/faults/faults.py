"""The faults: each sets jobs in motion through the real services, injects one fault into the
real processes, waits until every affected job is terminal, and returns what it did.

Imported after ``django.setup()`` (see ``run.py``).
"""

from __future__ import annotations

import time
from pathlib import Path

import redis

from downloads.models import Rendition
from downloads.rendering import rendition_request
from jobs.models import SeparationJob
from tests.faults.lab import Lab, exits, restarts, terminate_connections
from tests.faults.measure import Outcome, now
from tests.faults.world import WEBHOOK_RETRY_SCALE
from webhooks.models import WebhookDelivery
from webhooks.payload import new_secret

Status = SeparationJob.Status


def worker_sigkill_local(lab: Lab) -> Outcome:
    """SIGKILL the worker's whole session (worker, work-horse, scheduler) while the local engine
    separates a 120 s file; start the Docker worker command again."""
    world = lab.world
    outcome = Outcome("SIGKILL of the worker tree mid local job")
    pk = lab.job("local", lab.long)
    outcome.jobs = [pk]
    job = lab.running(pk, 0.1)
    killed = world.children["worker"].kill_tree()
    outcome.t0 = now()
    world.restart_worker()
    outcome.notes.append(
        f"{killed} processes killed at {job.progress:.0%} of a 120 s file; "
        "worker started again (recover_jobs, rqworker)"
    )
    lab.wait_done(outcome)
    return outcome


def worker_sigkill_collect(lab: Lab) -> Outcome:
    """SIGKILL the worker's session while it collects a CAMB.AI job's stems: the sandbox lets
    the first result file through and holds the second, so the kill lands mid-collection."""
    world = lab.world
    assert world.gate is not None
    outcome = Outcome("SIGKILL during stem collection (CAMB.AI)")
    tasks = lab.sandbox_tasks()
    world.gate.hold_after(1)
    try:
        pk = lab.job("camb", lab.short[0])
        outcome.jobs = [pk]
        world.wait(lambda: world.gate.held >= 1, 120, "the worker to download the second stem")
        killed = world.children["worker"].kill_tree()
        outcome.t0 = now()
    finally:
        world.gate.release()
    world.restart_worker()
    outcome.notes.append(
        f"{killed} processes killed with 1 of 2 stems downloaded; worker started again"
    )
    lab.wait_done(outcome)
    outcome.sandbox_tasks = lab.sandbox_tasks() - tasks
    return outcome


def _in_flight(lab: Lab, remote_source: Path, queued_source: Path) -> tuple[str, str, str]:
    """A CAMB.AI job waiting on its provider, a local job running, another queued: their ids.
    Call it while the provider is held busy (``lab.provider_busy()``)."""
    remote = lab.job("camb", remote_source)
    lab.waiting_on_provider(remote)
    running = lab.job("local", lab.long)
    lab.running(running, 0.05)
    return remote, running, lab.job("local", queued_source)


def redis_flushall(lab: Lab) -> Outcome:
    """FLUSHALL with a local job running, one queued, a CAMB.AI job waiting on its provider,
    and a rendition pending."""
    world = lab.world
    outcome = Outcome("Redis FLUSHALL")
    source = lab.job("camb", lab.short[1])
    lab.wait_job(source, lambda j: j.status == Status.SUCCEEDED, "a finished job to render")
    tasks = lab.sandbox_tasks()
    with lab.provider_busy() as release:
        remote, running, queued = _in_flight(lab, lab.short[2], lab.short[3])
        stem = lab.row(source).stems.order_by("name").first()
        assert stem is not None
        rendition = rendition_request(stem=stem, fmt="mp3")
        states = (
            lab.row(running).status,
            lab.row(queued).status,
            lab.row(remote).status,
            Rendition.objects.get(pk=rendition.pk).state,
        )
        if states != (Status.RUNNING, Status.QUEUED, Status.RUNNING, Rendition.State.PENDING):
            outcome.problems.append(f"the set-up was not as planned before the flush: {states}")
        redis.Redis.from_url(world.env["REDIS_URL"]).flushall()
        outcome.t0 = now()
        release.set()
    outcome.jobs = [running, queued, remote]
    outcome.renditions = [rendition.pk]
    outcome.notes.append(
        "flushed with a local job running, one queued, a CAMB.AI job waiting on its provider "
        "and a rendition pending"
    )
    lab.wait_done(outcome)
    outcome.sandbox_tasks = lab.sandbox_tasks() - tasks
    return outcome


def redis_stopped(lab: Lab) -> Outcome:
    """Redis stopped (SIGTERM) with a local job running, one queued and a CAMB.AI job waiting
    on its provider; started again on the same port with its data (append-only file)."""
    world = lab.world
    seconds = 10 if lab.quick else 30
    outcome = Outcome(f"Redis stopped for {seconds} s", t0_label="from Redis back")
    tasks = lab.sandbox_tasks()
    exited = exits(world)
    with lab.provider_busy() as release:
        remote, running, queued = _in_flight(lab, lab.short[4], lab.short[5])
        world.redis_stop()
        try:
            lab.sleep(seconds / 2)
            release.set()  # the provider finishes while Redis is away
            lab.sleep(seconds / 2)
        finally:
            world.redis_start()
        outcome.t0 = now()
    outcome.jobs = [running, queued, remote]
    outcome.notes.append("started again on the same port with its data (AOF)")
    lab.wait_done(outcome)
    outcome.notes += restarts(world, exited)
    outcome.sandbox_tasks = lab.sandbox_tasks() - tasks
    return outcome


def postgres_terminated(lab: Lab) -> Outcome:
    """Every connection but the harness's terminated twice: while a CAMB.AI job's stems are
    downloading (held past the lease, which must go on being renewed), then while the local
    engine separates with another CAMB.AI job waiting on its provider."""
    world = lab.world
    assert world.gate is not None
    outcome = Outcome("PostgreSQL connections terminated mid-job")
    if not world.pg_name:
        outcome.skipped = "SQLite"
        return outcome
    tasks = lab.sandbox_tasks()
    exited = exits(world)
    lease_s = float(world.env["STEMWEB_LEASE_S"])
    world.gate.hold_after(1)
    try:
        collecting = lab.job("camb", lab.short[1])
        world.wait(lambda: world.gate.held >= 1, 120, "the worker to download a stem")
        held_at = now()
        local = lab.job("local", lab.long)  # waits behind the collection
        lab.wait_job(  # the lease thread has its own connection once it renewed
            collecting, lambda j: j.heartbeat is not None and j.heartbeat > held_at, "a renewal"
        )
        terminated = terminate_connections()
        lab.sleep(lease_s + 2)
        job = lab.row(collecting)
        if job.lease_until is None or job.lease_until < now():
            outcome.problems.append(
                f"the collecting worker's lease lapsed {lease_s + 2:.0f} s after the "
                "connections were terminated: it was not renewed on a new connection"
            )
    finally:
        world.gate.release()
    with lab.provider_busy() as release:
        polling = lab.job("camb", lab.short[0])
        lab.waiting_on_provider(polling)
        lab.running(local, 0.1)
        terminated += terminate_connections()
        outcome.t0 = now()
        release.set()
    outcome.t0_label = "from the 2nd termination"
    outcome.jobs = [collecting, polling, local]
    outcome.notes.append(
        f"{terminated} connections terminated: mid-download (stems held {lease_s + 2:.0f} s), "
        "then mid-separation"
    )
    lab.wait_done(outcome)
    outcome.notes += restarts(world, exited)
    outcome.sandbox_tasks = lab.sandbox_tasks() - tasks
    return outcome


def provider_500(lab: Lab) -> Outcome:
    """Every CAMB.AI API request answers 500 for a while (a job polling, a job submitting),
    then the provider recovers."""
    world = lab.world
    seconds = 20 if lab.quick else 120
    scaled = "2 minutes scaled x1/6" if lab.quick else "2 minutes, unscaled"
    outcome = Outcome(f"CAMB.AI answering 500 for {seconds} s", t0_label="from the provider back")
    tasks = lab.sandbox_tasks()
    with lab.provider_busy() as release:
        polling = lab.job("camb", lab.short[1])
        lab.waiting_on_provider(polling)
        world.sandbox.set_fault("camb", "server_error", times=1_000_000)
        try:
            submitting = lab.job("camb", lab.short[2])
            release.set()
            lab.sleep(seconds)
        finally:
            world.sandbox.clear_faults()
        outcome.t0 = now()
    outcome.jobs = [polling, submitting]
    lab.wait_done(outcome)
    errors = sum(lab.row(pk).events.filter(status_code=500).count() for pk in (polling, submitting))
    outcome.notes.append(f"{scaled}; {errors} requests answered 500, then retried")
    outcome.sandbox_tasks = lab.sandbox_tasks() - tasks
    return outcome


def checker_sigkill(lab: Lab) -> Outcome:
    """SIGKILL the checker while CAMB.AI jobs wait on their provider; the provider finishes
    while no checker runs. The supervisor starts it again; the jobs are checked, collected
    once, and submitted once."""
    world = lab.world
    outcome = Outcome("SIGKILL of the checker while jobs wait")
    tasks = lab.sandbox_tasks()
    with lab.provider_busy() as release:
        outcome.jobs = [lab.job("camb", source) for source in lab.short[:2]]
        for pk in outcome.jobs:
            lab.waiting_on_provider(pk)

        def checked() -> int:
            return sum(lab.row(pk).checks for pk in outcome.jobs)

        world.wait(lambda: checked() >= 2 * len(outcome.jobs), 60, "the checker's checks")
        checks = checked()
        killed = world.children["checker"].kill_tree()
        outcome.t0 = now()
        release.set()
    lab.wait_done(outcome)
    outcome.notes.append(
        f"{killed} process killed after {checks} checks; started again by the supervisor "
        f"{len(world.children['checker'].exits)} time(s)"
    )
    outcome.sandbox_tasks = lab.sandbox_tasks() - tasks
    return outcome


def webhook_down(lab: Lab) -> Outcome:
    """The team's webhook receiver refuses connections for 20 minutes (scaled like the retry
    delays, by STEMWEB_WEBHOOK_RETRY_SCALE), then comes back: each ended job is delivered once."""
    world = lab.world
    seconds = 20 * 60 * WEBHOOK_RETRY_SCALE
    outcome = Outcome(
        f"webhook receiver down for {seconds:.0f} s", t0_label="from the receiver back"
    )
    team = lab._team("hooks@example.com")
    team.webhook_url = world.receiver.url
    team.webhook_secret = new_secret()
    team.save()
    world.receiver.secret = team.webhook_secret
    tasks = lab.sandbox_tasks()
    down_at = time.monotonic()
    outcome.jobs = [lab.job("camb", source, team=team) for source in lab.short[3:5]]
    lab.wait_done(outcome)
    lab.sleep(max(0.0, seconds - (time.monotonic() - down_at)))
    world.receiver.start()
    outcome.t0 = now()

    def delivered() -> bool:
        return WebhookDelivery.objects.filter(
            job_id__in=outcome.jobs, outcome=WebhookDelivery.Outcome.DELIVERED
        ).count() >= len(outcome.jobs)

    world.wait(delivered, 120, "each job's webhook to be delivered")
    outcome.done_at = now()
    lab.sleep(2)  # a duplicate would come now
    for pk in outcome.jobs:
        got = [r for r in world.receiver.received if r["task_id"] == pk]
        if len(got) != 1 or not got[0]["verified"]:
            outcome.problems.append(f"job {pk}: the receiver got {got}")
    attempts = WebhookDelivery.objects.filter(job_id__in=outcome.jobs).count()
    outcome.notes.append(
        f"20 minutes x{WEBHOOK_RETRY_SCALE}; {attempts} delivery attempts for "
        f"{len(outcome.jobs)} jobs, {len(world.receiver.received)} received (signed, once each)"
    )
    outcome.sandbox_tasks = lab.sandbox_tasks() - tasks
    return outcome


QUICK = [worker_sigkill_local, redis_flushall, provider_500, postgres_terminated]
ALL = [
    worker_sigkill_local,
    worker_sigkill_collect,
    redis_flushall,
    redis_stopped,
    postgres_terminated,
    provider_500,
    checker_sigkill,
    webhook_down,
]
