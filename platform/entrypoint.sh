#!/bin/sh
# Container entrypoint: bring the platform and tenant databases up to date, then serve.
#
#   MIGRATE_ON_START=0        skip migrations (when a one-off job runs them instead)
#   MIGRATE_ATTEMPTS=10       tries per step before giving up: the database may still be
#                             starting, or another replica may be migrating at the same moment
#   MIGRATE_RETRY_SECONDS=3   pause between tries
#
# With arguments it runs them instead of gunicorn, after migrating, e.g.
#   docker compose run --rm app flask --app tenants.wsgi tenants list
set -eu
cd "$(dirname "$0")/.."

attempts=${MIGRATE_ATTEMPTS:-10}
pause=${MIGRATE_RETRY_SECONDS:-3}

retry() {
    attempt=1
    until "$@"; do
        if [ "$attempt" -ge "$attempts" ]; then
            echo "entrypoint: '$*' failed $attempt times; giving up. Check DATABASE_URL and that the database server is up." >&2
            exit 1
        fi
        echo "entrypoint: '$*' failed (attempt $attempt of $attempts); retrying in ${pause}s." >&2
        attempt=$((attempt + 1))
        sleep "$pause"
    done
}

if [ "${MIGRATE_ON_START:-1}" != "0" ]; then
    retry flask --app tenants.wsgi db upgrade
    retry flask --app tenants.wsgi tenants migrate
fi

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
# exec: gunicorn becomes the container's main process and gets SIGTERM from docker stop.
exec gunicorn -c platform/gunicorn.conf.py tenants.wsgi:application
