"""RQ's cron scheduler configuration: ``python manage.py rqcron stemweb.cron``.

Recovery (``jobs.services.jobs_reconcile``) runs every minute on the default queue. Several
cron schedulers may run (one per worker machine): each pass takes a Redis lock, and a pass that
finds another running does nothing.
"""

from rq import cron

from jobs.tasks import reconcile

RECONCILE_EVERY_S = 60

cron.register(reconcile, queue_name="default", interval=RECONCILE_EVERY_S, job_timeout=300)
