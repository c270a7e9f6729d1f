"""RQ's cron scheduler configuration: ``python manage.py rqcron stemweb.cron``.

Recovery (``jobs.services.jobs_reconcile``) runs every ``STEMWEB_RECONCILE_EVERY_S`` seconds
(a minute) on the default queue. Several
cron schedulers may run (one per worker machine): each pass takes a Redis lock, and a pass that
finds another running does nothing.
"""

from django.conf import settings
from rq import cron

from jobs.tasks import reconcile

cron.register(
    reconcile, queue_name="default", interval=settings.STEMWEB_RECONCILE_EVERY_S, job_timeout=300
)
