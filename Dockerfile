# syntax=docker/dockerfile:1
# newsflow: the `newsflow` command and its Prefect flows on Python 3.11; no torch, no CUDA.
#
#   docker build -t newsflow:local .
#   docker build -t newsflow:local --build-arg NEWSFLOW_MODELS="id de" .   # bake models in
#   docker compose build --build-arg NEWSFLOW_MODELS="id de"   # the same through compose, or set
#                          # NEWSFLOW_MODELS in .env and `docker compose up -d --build` (up takes no --build-arg)
#
# The project is installed from the same lock files as the Makefile's install: exactly the
# versions of requirements.lock (the runtime set; the Makefile adds the dev tools of
# requirements-dev.lock at the same versions), then argostranslate alone with --no-deps (its
# declared dependencies pull torch with CUDA, about 6 GB, and only its package module is used),
# then the project itself without dependencies. Only the build touches the network; containers
# read models from ARGOS_PACKAGES_DIR (baked in, or a mounted volume) and never download at start.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements.lock requirements-argos.lock ./
RUN python -m pip install --require-hashes --no-deps -r requirements.lock \
 && python -m pip install --require-hashes --no-deps -r requirements-argos.lock
COPY pyproject.toml README.md ./
COPY pipeline/ pipeline/
COPY flows/ flows/
COPY warehouse/schema.sql warehouse/schema.sql
RUN python -m pip install --no-deps .

FROM python:3.11-slim AS runtime
# Match your own uid/gid so the bind-mounted seeds/ and warehouse/ stay writable for both.
ARG NEWSFLOW_UID=1000
ARG NEWSFLOW_GID=1000
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ARGOS_PACKAGES_DIR=/opt/argos-packages \
    NEWSFLOW_SEEDS=/data/seeds \
    NEWSFLOW_WAREHOUSE=/data/warehouse/news.duckdb \
    NEWSFLOW_STATE=/data/state \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1
RUN groupadd --gid "${NEWSFLOW_GID}" newsflow \
 && useradd --uid "${NEWSFLOW_UID}" --gid newsflow --create-home --shell /usr/sbin/nologin newsflow \
 && mkdir -p /app "${ARGOS_PACKAGES_DIR}" /data/seeds /data/warehouse /data/state \
 && chown -R newsflow:newsflow /app "${ARGOS_PACKAGES_DIR}" /data
COPY --from=build /opt/venv /opt/venv
USER newsflow
WORKDIR /app

# Space-separated source languages, e.g. "id de": each installs its <lang>->en model.
# Declared last so changing the list rebuilds only this layer.
ARG NEWSFLOW_MODELS=""
RUN if [ -n "${NEWSFLOW_MODELS}" ]; then newsflow models install ${NEWSFLOW_MODELS}; fi

CMD ["newsflow", "serve"]
