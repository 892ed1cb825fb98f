# personalize API: slim, non-root, `personalize serve`.
# Set REDIS_URL to your Redis; without it the container starts an embedded Redis with AOF
# in /data (fine for a demo, use a real Redis in production).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 personalize && mkdir -p /data /models && chown personalize /data /models
COPY --from=build /install /usr/local
USER personalize
ENV PERSONALIZE_HOST=0.0.0.0 \
    PERSONALIZE_PORT=8000 \
    PERSONALIZE_WORKERS=2 \
    PERSONALIZE_DATA_DIR=/data \
    PERSONALIZE_MODELS_DIR=/models \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    NUMBA_CACHE_DIR=/home/personalize/.cache/numba
# The scorer's numba kernels compiled into the image (the package directory is read-only
# for this user): workers start without ~15 s of compiling.
RUN personalize warm-up
EXPOSE 8000
VOLUME ["/data", "/models"]
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status == 200 else 1)"
CMD ["personalize", "serve"]
