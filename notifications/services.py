"""An email to the person who started a job when it ends, if they asked for it in their settings
(``User.email_when_job_ends``): enqueued by a ``STEMWEB_JOB_ENDED_HOOKS`` hook, sent by a worker.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import Membership, User
from jobs import queues
from jobs.models import SeparationJob
from notifications.models import EndedJobEmail
from notifications.summary import TOLD, ended_title


def _recipient(job: SeparationJob) -> User | None:
    """Who is told of ``job``'s end by email: the person who started it, if it succeeded,
    failed or timed out (and no review holds its stems), they turned the email on and they
    are still in the job's team. None for anyone else."""
    user = job.created_by
    if job.status not in TOLD or job.is_held or user is None:
        return None
    if not (user.is_active and user.email_when_job_ends):
        return None
    if not Membership.objects.filter(team_id=job.project.team_id, user=user).exists():
        return None
    return user


def _ended_job(job_id: str) -> SeparationJob | None:
    return (
        SeparationJob.objects.select_related("project__team", "created_by")
        .filter(pk=job_id)
        .first()
    )


def ended_email_enqueue(*, job_id: str) -> bool:
    """``STEMWEB_JOB_ENDED_HOOKS``: queue the email telling the job's starter it ended, when
    they are to be told (see ``_recipient``). The RQ id is derived from the job and its
    attempt, so a second call while the first task waits queues nothing. True when queued."""
    job = _ended_job(job_id)
    if job is None or _recipient(job) is None:
        return False
    rq_id = f"ended-email-{job.pk}-{job.attempts}"
    if queues.is_waiting(rq_id):
        return False
    queues.enqueue(
        queues.SEND_ENDED_EMAIL, str(job.pk), job.attempts, job_id=rq_id, on_commit=False
    )
    return True


def ended_email_send(*, job_id: str, attempt: int) -> bool:
    """Send the email for ``attempt`` of the job, unless it was sent before (one
    ``EndedJobEmail`` per job and attempt), the job was retried since (that attempt's end
    tells), or its starter is no longer to be told. Plain text, from ``DEFAULT_FROM_EMAIL``,
    with the project, the outcome (the reason when it failed or timed out) and a link built
    on ``STEMWEB_PUBLIC_URL``. True when sent; an email that cannot be sent raises, and no row
    is left."""
    job = _ended_job(job_id)
    if job is None or job.attempts != attempt:
        return False
    user = _recipient(job)
    if user is None:
        return False
    site = settings.STEMWEB_PUBLIC_URL
    title = ended_title(job)
    body = render_to_string(
        "notifications/email/job_ended_message.txt",
        {
            "job": job,
            "title": title,
            "link": site + reverse("job_detail", args=[job.pk]),
            "settings_link": site + reverse("user_settings"),
        },
    )
    with transaction.atomic():
        _, created = EndedJobEmail.objects.get_or_create(
            job=job, attempt=attempt, defaults={"to": user.email}
        )
        if not created:
            return False
        send_mail(f"stemweb: {title}", body, None, [user.email])
    return True
