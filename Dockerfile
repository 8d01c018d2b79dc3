# One image for every Orderline process: deploy/entrypoint.sh picks it (api, relay, projector,
# aggregator) from its argument or ORDERLINE_PROCESS. Dependencies come from uv.lock alone.
#   docker build -t orderline:1.2.3 .
#   docker run -e ORDERLINE_PROCESS=relay --env-file prod.env orderline:1.2.3
# The ECS services of `orderline tables export --services` run it (docs/deployment.md).

FROM python:3.11-slim-bookworm AS build
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /app
# the dependencies first, in a layer of their own that a code change does not rebuild
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 orderline \
    && useradd --system --uid 10001 --gid orderline --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin orderline
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY deploy/entrypoint.sh /app/deploy/entrypoint.sh
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORDERLINE_PROCESS=api \
    ORDERLINE_HOST=0.0.0.0 \
    ORDERLINE_DATA_DIR=/tmp/orderline
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/app/deploy/entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
