# The release image: mlopsc itself. It runs each pipeline's release task (`mlopsc evidence write`)
# and each team's schedule reconciler (`mlopsc schedules sync`); mlopsc.yaml's
# kubeflow.releaseImage names it, pinned by digest (docs/SCHEDULES.md, "The release image").
#
#   docker build -t registry.example.com/ml/mlopsc . && docker push registry.example.com/ml/mlopsc
#
# The base is python:3.11-slim (Debian), pinned by digest. To move to a newer base (and to check
# this one), `docker buildx imagetools inspect python:3.11-slim` prints the current digest.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY compiler ./compiler
# A plain (non-editable) install of this project and its runtime dependencies only; the source
# tree is removed afterwards so nothing but the installed package remains.
RUN pip install --no-compile . \
    && rm -rf /src

WORKDIR /
# A numeric non-root user, so Pod Security `restricted` (runAsNonRoot) can verify it.
USER 65532:65532
ENTRYPOINT ["mlopsc"]
CMD ["--help"]
