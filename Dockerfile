# The worker image: `docker compose build` (docker-compose.yml) and the Kubernetes
# manifests (deploy/kubernetes, image name `slo-engine`) both use it.
#
#   docker build -t slo-engine:0.1.0 .
#   docker run --rm -p 8080:8080 -e KAFKA_BOOTSTRAP_SERVERS=broker:9092 slo-engine:0.1.0
#
# The entrypoint is the CLI (`python -m app`); the default command runs the worker,
# and any other subcommand works too (`... slo-engine:0.1.0 produce-demo --bootstrap ...`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package build needs (.dockerignore keeps the rest out of the context);
# the sources go once installed, so `python -m app` runs the installed package.
COPY pyproject.toml README.md /src/
COPY app /src/app
# The optional extras too: the deployments use the Redis read model (REDIS_URL), and a
# topology may configure the Pulsar sink.
RUN pip install "/src[redis,pulsar]" && rm -rf /src

# The default topology: a non-editable install has no topologies/ beside the
# package, so the image points SLO_TOPOLOGY at its own copy. Deployments mount
# theirs over it (compose: deploy/topology.yaml; Kubernetes: a ConfigMap).
COPY topologies/default.yaml /etc/slo-engine/topology.yaml

RUN useradd --system --uid 10001 --create-home --home-dir /home/slo --shell /usr/sbin/nologin slo
USER 10001
WORKDIR /home/slo

# In a container the API must listen on every interface, not the 127.0.0.1 default.
ENV SLO_TOPOLOGY=/etc/slo-engine/topology.yaml \
    SLO_API_HOST=0.0.0.0 \
    SLO_API_PORT=8080
EXPOSE 8080

ENTRYPOINT ["python", "-m", "app"]
CMD ["run"]
