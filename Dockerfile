FROM python:3.11-slim
RUN useradd --create-home --uid 10001 cchc && mkdir -p /var/lib/cchc && chown cchc /var/lib/cchc
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams streams
COPY kpi kpi
COPY agents agents
COPY schemas schemas
RUN pip install --no-cache-dir '.[rocksdb]'
USER cchc
EXPOSE 6066
CMD ["cchc", "worker"]
