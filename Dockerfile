# syntax=docker/dockerfile:1.7
#
# One image for every role of infobip-inbound. The command selects the role:
#   docker run IMAGE serve     # the receiver (HTTP_FORWARD endpoint, port 8080)
#   docker run IMAGE worker    # RQ workers running the handlers
#   docker run IMAGE poller    # the PULL poller
#   docker run -p 9090:9090 IMAGE simulator --host 0.0.0.0    # a stand-in Infobip, for trials
#
# Build:  docker build -t infobip-inbound:0.1.0 .
# The dependencies come from uv.lock only (uv sync --frozen), the project from its wheel built in the build
# stage; the final stage carries the virtualenv, tini and nothing used to build it (no uv, no caches, no
# compilers, no source tree).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_VERSION=0.13.8
# Optional extras installed in the image: `otel` is inert until OTEL_* variables ask for traces (README,
# "Tracing"); build with --build-arg EXTRAS= for an image without it.
ARG EXTRAS=otel

# ---------------------------------------------------------------- build: resolve and install into /opt/venv
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION
ARG EXTRAS
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src

# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project ${EXTRAS:+--extra ${EXTRAS}}

# Then the project itself: its wheel, built here and installed without dependencies (uv.lock put them in
# above), as a regular package so /src is not needed at run time. The wheel merges the three portions of the
# `infobip_inbound` namespace (infobip_inbound/, receiver/, workers/) into one directory; the checks below
# fail the build if a portion is missing from the image.
COPY README.md ./
COPY infobip_inbound ./infobip_inbound
COPY receiver ./receiver
COPY workers ./workers
RUN uv build --wheel --out-dir /tmp/dist \
    && uv pip install --python /opt/venv/bin/python --no-deps /tmp/dist/infobip_inbound-*.whl \
    && rm -rf /tmp/dist \
    && uv export --frozen --no-dev ${EXTRAS:+--extra ${EXTRAS}} --no-hashes --no-emit-project \
       --format requirements-txt \
       --output-file /opt/venv/constraints.txt \
    && /opt/venv/bin/python -P -c "import infobip_inbound.receiver.app, infobip_inbound.workers.worker, infobip_inbound.simulator.app" \
    && /opt/venv/bin/infobip-inbound --version \
    && /opt/venv/bin/infobip-inbound simulator --help >/dev/null

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="infobip-inbound" \
      org.opencontainers.image.description="Receive Infobip Mobile Push user responses, queue them on Redis, hand them to handlers." \
      org.opencontainers.image.licenses="Apache-2.0"

# tini is PID 1: it forwards SIGTERM to Python and reaps any child process.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/* /var/log/apt /var/log/dpkg.log \
    && groupadd --system --gid 10001 inbound \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin inbound \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/infobip-inbound

COPY --from=build /opt/venv /opt/venv

# The root filesystem can be mounted read-only: bytecode is compiled at build time, nothing writes under
# /opt, and the only writable paths are /tmp and /var/lib/infobip-inbound (mount emptyDirs there).
ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    HOME=/tmp

# Settings come from INBOUND_* variables and INBOUND_CONFIG_FILE at run time; none are baked in here, since an
# environment variable would override the config file. The working directory is the writable data directory,
# so relative paths (the jsonl handler's default file) land there.
WORKDIR /var/lib/infobip-inbound
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM

ENTRYPOINT ["/usr/bin/tini", "--", "infobip-inbound"]
CMD ["serve"]
