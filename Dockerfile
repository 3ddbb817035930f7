# syntax=docker/dockerfile:1
# The platform's production image: gunicorn serving tenants.wsgi:application on port 8000.
#   docker build -t tenants-platform .
# Needs DATABASE_URL and SECRET_KEY at run time; see the README's Deploy section.

# --- build: a virtual environment with the runtime dependencies, from wheels only ----------
FROM python:3.11.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /build
COPY pyproject.toml README.md platform/constraints.txt ./
COPY tenants/ tenants/
# Only [project].dependencies (no dev tools), at the versions the tests ran with. Wheels
# only: nothing is compiled, so neither stage needs a compiler. Then the platform itself,
# as a wheel: its templates, static files and both Alembic histories are package data.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: -r requirements.txt -c constraints.txt \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps .

# --- runtime: the virtual environment and the source, run as an unprivileged user -------
FROM python:3.11.11-slim-bookworm AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000 \
    INSTANCE_PATH=/data

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app \
    && mkdir /data \
    && chown app:app /data

# The platform is installed in the virtual environment (pip compiled it there); /app
# holds only the deploy files that the entrypoint and healthcheck run.
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY platform/ platform/

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "/app/platform/healthcheck.py"]
ENTRYPOINT ["/app/platform/entrypoint.sh"]
