# Small non-root image: migrations run at start, then uvicorn.
# It builds the same way every time: one Python release on one Debian release (renewed by hand;
# `docker build --build-arg PYTHON_IMAGE=...` for a stand-in), and every Python package, pip
# and the build backend included, at its version in constraints.txt (`make lock`).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY app ./app
# pip first, at its pinned version: the base's may predate --build-constraint (25.3), or 23.3
# (before it, pip drops extras of dependencies).
RUN pip install --no-cache-dir -c constraints.txt --upgrade pip \
 && pip install --no-cache-dir -c constraints.txt --build-constraint constraints.txt --prefix=/install .

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --home /srv app && mkdir -p /srv/data && chown app /srv/data
COPY --from=build /install /usr/local
WORKDIR /srv
COPY alembic.ini docker/healthcheck.py ./
COPY migrations ./migrations
COPY seeds ./seeds
USER app
# `python -m app serve` migrates, then refuses HOST=0.0.0.0 while no API key exists: create
# the first with `python -m app keys create --scope admin --name ops` (docker-compose.yml).
# migrate() finds alembic.ini and migrations/ in the working directory, /srv.
ENV DATABASE_URL=sqlite:////srv/data/news.db HOST=0.0.0.0 PORT=8000 PYTHONUNBUFFERED=1
EXPOSE 8000
# GET /healthz at the configured HOST (0.0.0.0 or :: as loopback) and PORT.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD ["python", "/srv/healthcheck.py"]
CMD ["python", "-m", "app", "serve"]
