# The image every StarryNight step runs in when a container runtime is chosen
# (SnakemakeBackendConfig(container_runtime="docker" | "apptainer")); tag it as
# starrynight/starrynight:<version> (see DEFAULT_CONTAINER_IMAGE in
# src/starrynight/modules/base.py).
#
#     docker build -t starrynight/starrynight:0.1.0 .
#     apptainer build starrynight.sif docker-daemon://starrynight/starrynight:0.1.0
#
# Where no registry is reachable, scripts/build_image.sh makes a Debian base with
# debootstrap and builds on it (BASE=starrynight/base:bookworm-2); any image with python3.11
# and its venv module on PATH works as BASE.
#
# It is built by the same install script a laptop uses: StarryNight, pipecraft and
# Snakemake in /opt/starrynight/.venv, headless CellProfiler in /opt/starrynight/.venv-cp.
# One RUN layer, no pip cache and no bytecode keep it lean. Metadata comes before the RUN
# and only USER after it: a storage driver that copies each layer (vfs) copies the whole
# installed tree once per instruction after it.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# the sources' hash, which scripts/build_image.sh compares to skip a needless rebuild
ARG SOURCES=unknown
LABEL org.starrynight.sources=${SOURCES}
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg LANG=C.UTF-8 \
    PATH=/opt/starrynight/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/opt/starrynight/scripts/container_entry.sh"]
CMD ["starrynight", "--help"]
WORKDIR /opt/starrynight
COPY pyproject.toml README.md ./
COPY scripts/ scripts/
COPY src/ src/
RUN STARRYNIGHT_PYTHON=python3.11 bash scripts/setup.sh \
    && starrynight --help >/dev/null \
    && find /opt/starrynight -name __pycache__ -prune -exec rm -rf {} + \
    && rm -rf /root/.cache /tmp/*
# not root by default: runs pass --user with the invoking user's uid:gid (pipecraft does),
# and one that forgets it writes files nobody owns rather than root-owned ones
USER 65534:65534
