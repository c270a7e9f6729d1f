#!/bin/sh
# `web` (default): migrate, then gunicorn on :8000. `worker`: one recovery pass, then one RQ
# worker on the default and local queues with the scheduler. `cron`: RQ's cron scheduler, which
# runs recovery every minute (run one or more; passes take a lock). `checker`: polls the providers
# of remote jobs whose status check is due (one or more). Anything else runs as given.
set -e
case "$1" in
  web)
    python manage.py migrate --noinput
    exec gunicorn stemweb.wsgi --bind 0.0.0.0:8000 \
      --workers "${WEB_CONCURRENCY:-2}" --threads "${GUNICORN_THREADS:-4}" \
      --timeout 300 --access-logfile -
    ;;
  worker)
    python manage.py recover_jobs
    exec python manage.py rqworker default local --with-scheduler \
      --worker-class stemweb.worker.StemwebWorker
    ;;
  cron)
    exec python manage.py rqcron stemweb.cron
    ;;
  checker)
    exec python manage.py checker
    ;;
  *)
    exec "$@"
    ;;
esac
