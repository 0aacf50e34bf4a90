# The qaagent Docker action. The runner starts it as root with --workdir /github/workspace
# and the workspace mounted: hence no USER (root must write the workspace) and no WORKDIR.
# The base is pinned to one release; scripts/container-test.sh imports a stand-in under
# exactly the name on the FROM line.
FROM docker.io/library/python:3.12.8-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Dependencies first: this layer is reused while only qaagent's code changes.
COPY requirements.lock /opt/qaagent/requirements.lock
RUN pip install --no-cache-dir -r /opt/qaagent/requirements.lock

COPY . /opt/qaagent/src
RUN pip install --no-deps --no-build-isolation --no-cache-dir /opt/qaagent/src \
    && cp /opt/qaagent/src/entrypoint.py /opt/qaagent/entrypoint.py \
    && rm -rf /opt/qaagent/src

# Exec form: Python is PID 1's only process, so the runner's SIGTERM reaches qaagent.
ENTRYPOINT ["python3", "/opt/qaagent/entrypoint.py"]
