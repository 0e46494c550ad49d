FROM python:3.11.7-slim-bookworm
RUN useradd --create-home --uid 10001 cchc && mkdir -p /var/lib/cchc && chown cchc /var/lib/cchc
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY service service
COPY clients clients
COPY streams streams
COPY kpi kpi
COPY agents agents
COPY schemas schemas
RUN pip install --no-cache-dir -c constraints.txt '.[rocksdb]'
USER cchc
EXPOSE 6066
CMD ["cchc", "worker"]
