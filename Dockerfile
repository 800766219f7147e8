# lrcore dashboard for a class: `docker build -t lrcore .` then
# `docker run --rm -p 8501:8501 --cpus 2 -e LRCORE_WORKERS=2 --memory 4g lrcore`
# (README.md, "Host it for a class"). The CPU build of torch, the [app] extra only, a non-root
# user, a health check; nothing is fetched once the image is built (tests/test_dockerfile.py).

# a pinned base (tag with the patch release and Debian release; add @sha256:... to freeze it)
FROM python:3.11.13-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# the build context is what .dockerignore leaves: the package, the app, its samples and settings
COPY . .
# the wheel as a user gets it (setup.py maps app/, sample_runs/, .streamlit/ into lrcore._app)
RUN pip wheel --no-deps -w /dist .

FROM python:3.11.13-slim-bookworm
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
COPY --from=build /dist /dist
COPY constraints.txt /tmp/constraints.txt
# The [app] extra with the versions the tests ran (constraints.txt). torch==2.13.0 there pins a
# version, not a build: the extra index adds the CPU build (2.13.0+cpu, preferred over PyPI's
# CUDA build, ~2 GB smaller); the check after it fails the build if a CUDA build came in.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu \
        -c /tmp/constraints.txt "$(ls /dist/lrcore-*.whl)[app]" \
    && python -c "import torch; assert torch.version.cuda is None, torch.__version__" \
    && rm -rf /dist /tmp/constraints.txt

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin lrcore
# numeric, so that a host or Kubernetes' runAsNonRoot can tell it is not root
USER 10001
WORKDIR /home/lrcore

# Settings that bound a class (README.md, "Host it for a class"); change them with docker run -e.
# LRCORE_WORKERS: training runs at once (default: the cores the container may use, `nproc`;
#   with --cpus N, which nproc does not see, pass -e LRCORE_WORKERS=N).
# LRCORE_SESSION_RUNS: runs one browser session may have queued or running at once.
# STREAMLIT_SERVER_PORT: the port inside the container.
# STREAMLIT_BROWSER_GATHER_USAGE_STATS: no telemetry (the app's config.toml says so too).
ENV LRCORE_SESSION_RUNS=1 \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
EXPOSE 8501

# (python: the slim image has no curl; an error exits 1, "unhealthy")
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/_stcore/health' % os.environ.get('STREAMLIT_SERVER_PORT', '8501'), timeout=8)"]

# all interfaces (the published port reaches it); no file watcher (the code does not change)
CMD ["sh", "-c", "export LRCORE_WORKERS=\"${LRCORE_WORKERS:-$(nproc)}\"; exec lrcore app --server.address=0.0.0.0 --server.fileWatcherType=none"]
