# The qaagent Docker action. The runner starts it as root with --workdir /github/workspace
# and the workspace mounted: hence no USER (root must write the workspace) and no WORKDIR.
# The base is pinned by tag and by digest (the multi-platform index, so linux/amd64 and
# linux/arm64 both resolve; Dependabot moves both). scripts/container-test.sh builds a copy
# of this file against a local stand-in imported under the tag (podman cannot import an
# image under a digest); this file itself always keeps the digest.
FROM docker.io/library/python:3.12.13-slim-bookworm@sha256:4766d8b510c428e595d74b9cc5bbb2fae8e26316fffb4adc89908d79aacd58a2

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Dependencies first: this layer is reused while only qaagent's code changes. Every file is
# checked against its hash in the lock (setuptools, the build backend of the next step, too),
# and only wheels are accepted: nothing is compiled or fetched unpinned.
COPY requirements.txt /opt/qaagent/requirements.txt
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: -r /opt/qaagent/requirements.txt
# The `postgres` extra (psycopg 3 with its bundled libpq), locked the same way, so a
# `history.store: postgresql://…` works from the action; its own layer, after the core.
COPY requirements-postgres.txt /opt/qaagent/requirements-postgres.txt
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: -r /opt/qaagent/requirements-postgres.txt

COPY . /opt/qaagent/src
RUN pip install --no-deps --no-build-isolation --no-cache-dir /opt/qaagent/src \
    && cp /opt/qaagent/src/entrypoint.py /opt/qaagent/entrypoint.py \
    && rm -rf /opt/qaagent/src

# Exec form: Python is PID 1's only process, so the runner's SIGTERM reaches qaagent.
ENTRYPOINT ["python3", "/opt/qaagent/entrypoint.py"]
