# Small non-root image: migrations run at start, then uvicorn.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /srv app && mkdir -p /srv/data && chown app /srv/data
COPY --from=build /install /usr/local
WORKDIR /srv
COPY alembic.ini ./
COPY migrations ./migrations
COPY seeds ./seeds
USER app
# `python -m app serve` migrates, then refuses HOST=0.0.0.0 while no API key exists: create
# the first with `python -m app keys create --scope admin --name ops` (docker-compose.yml).
# migrate() finds alembic.ini and migrations/ in the working directory, /srv.
ENV DATABASE_URL=sqlite:////srv/data/news.db HOST=0.0.0.0 PORT=8000 PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"
CMD ["python", "-m", "app", "serve"]
