# One image for every process of the control plane: `web`, `worker`, `beat`, `migrate`
# (docker/entrypoint.sh; the argument, else $DC_ROLE, chooses). docs/DEPLOY.md tells how to
# run it; docker-compose.yml runs the whole topology.
#
# BASE_IMAGE: any Debian bookworm image. The packages below are installed only when missing,
# so a base that already carries them (an offline build) needs no package mirror.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE} AS base

ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    DC_ENV=production \
    DC_BIND_HOST=0.0.0.0 \
    DC_VAR_DIR=/var/lib/dockercloud

RUN set -eu; pkgs="python3 python3-venv ca-certificates"; \
    if ! dpkg -s $pkgs >/dev/null 2>&1; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --system --gid 10001 dockercloud; \
    useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/dockercloud \
        --no-create-home --shell /usr/sbin/nologin dockercloud

# The dependencies, in a stage of their own: a code change does not reinstall them, and the
# wheels never reach the final image. Wheels in docker/wheels/ (`pip wheel -r requirements.txt
# -w docker/wheels` with bookworm's python3) make the build offline; without them pip fetches
# the pinned versions from PyPI.
FROM base AS deps
COPY requirements.txt /tmp/build/requirements.txt
COPY docker/wheels/ /tmp/build/wheels/
RUN set -eu; \
    python3 -m venv /opt/venv; \
    if ls /tmp/build/wheels/*.whl >/dev/null 2>&1; then \
        set -- --no-index --find-links /tmp/build/wheels; \
    fi; \
    pip install --no-cache-dir "$@" -r /tmp/build/requirements.txt

# The source without the wheels (the context carries them for the stage above).
FROM base AS source
COPY . /app
RUN rm -rf /app/docker/wheels

FROM base
COPY --from=deps /opt/venv /opt/venv
COPY --from=source /app /app
WORKDIR /app
# Static files are collected into the image (whitenoise serves them with hashed names) under
# $DC_VAR_DIR/static, read-only; the rest of $DC_VAR_DIR is the process's own (the agent
# zipapp it serves, TLS files for the nodes' daemons) and may be lost with the container. The
# settings need production values to load, so throwaway ones are given to this step only.
RUN set -eu; \
    install -d -o dockercloud -g dockercloud -m 700 /var/lib/dockercloud; \
    python -m compileall -q /app >/dev/null; \
    DC_SECRET_KEY=build-only DC_ALLOWED_HOSTS=build.invalid DC_PUBLIC_URL=https://build.invalid \
    DATABASE_URL=postgres://build@127.0.0.1:1/build REDIS_URL=redis://127.0.0.1:1/0 \
    DC_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    DC_SIGNING_KEY="$(python -c 'from core.signing import generate_key_pem as g; print(g())')" \
    python manage.py collectstatic --noinput -v 0; \
    install -m 755 docker/entrypoint.sh /usr/local/bin/dockercloud; \
    install -m 755 docker/healthcheck.py /usr/local/bin/dockercloud-healthcheck

USER dockercloud
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["dockercloud-healthcheck"]
ENTRYPOINT ["dockercloud"]
CMD ["web"]
