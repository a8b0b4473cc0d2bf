# The learnstream processes (serve, connectors, worker, loader, CLI) for the docker-compose stack.
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
USER nobody
ENTRYPOINT ["learnstream"]
