#!/bin/sh
# `web` (default): migrate, then gunicorn on :8000. `worker`: recover lost jobs, then one RQ
# worker on the default and local queues with the scheduler. Anything else runs as given.
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
  *)
    exec "$@"
    ;;
esac
