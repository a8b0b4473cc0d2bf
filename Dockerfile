# The learnstream processes (serve, connectors, worker, loader, CLI) for the docker-compose stack.

# The dashboard's charting library, from the npm registry as `make setup` installs it (package-lock.json).
FROM node:20-slim AS dashboard
WORKDIR /dashboard
COPY server/dashboard/package.json server/dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY learnstream learnstream
COPY producers producers
COPY streams streams
COPY warehouse warehouse
COPY cli cli
COPY server server
COPY simulator simulator
COPY samples samples
RUN pip install --no-cache-dir .
# serve looks for it beside the installed dashboard page (server/dashboard_routes.py)
COPY --from=dashboard /dashboard/node_modules /usr/local/lib/python3.11/site-packages/server/dashboard/node_modules
USER nobody
ENTRYPOINT ["learnstream"]
