# The image every StarryNight step runs in when a container runtime is chosen
# (SnakemakeBackendConfig(container_runtime="docker" | "apptainer")); tag it as
# starrynight/starrynight:<version> (see DEFAULT_CONTAINER_IMAGE in
# src/starrynight/modules/base.py).
#
#     docker build -t starrynight/starrynight:0.1.0 .
#     apptainer build starrynight.sif docker-daemon://starrynight/starrynight:0.1.0
#
# It is built by the same install script a laptop uses: StarryNight, pipecraft and
# Snakemake in /opt/starrynight/.venv, headless CellProfiler in /opt/starrynight/.venv-cp.
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg
WORKDIR /opt/starrynight
COPY pyproject.toml README.md ./
COPY scripts/ scripts/
COPY src/ src/
RUN STARRYNIGHT_PYTHON=python3.11 bash scripts/setup.sh \
    && /opt/starrynight/.venv/bin/starrynight --help >/dev/null
ENV PATH=/opt/starrynight/.venv/bin:$PATH
WORKDIR /work
CMD ["starrynight", "--help"]
