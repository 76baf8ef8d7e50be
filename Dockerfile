# The etcd-steward image: the CLI and the agent (`serve`) on Node 20, with etcd, etcdctl and
# etcdutl of one etcd line (restore init containers run etcdutl; drills run etcd). The agent
# Deployment, the CronJobs and the restore init containers that `render kubernetes` writes run it.
#
# One file, two ways to fill it (build arguments pick a stage for each part):
#   anywhere with registry access (Docker BuildKit, podman or buildah):
#     docker build --build-arg ETCD_VERSION=3.6.16 --build-arg VERSION=0.1.0 \
#       -t registry.example.com/etcd-steward:0.1.0-etcd3.6 .
#     (ETCD_FROM=release: etcd's official release archive, checked against its SHA256SUMS;
#      ETCD_FROM=proxy: built with Go from the Go module proxy by scripts/install-etcd.sh)
#   offline, as scripts/build-image.sh does on machines without registry access: a Debian base made
#     with debootstrap, and a context folder holding `local/app/` (the built package), `local/etcd/`
#     (the binaries scripts/install-etcd.sh built) and `local/node` (a Node 20 binary):
#     buildah bud --build-arg BASE_IMAGE=localhost/etcd-steward-base:bookworm \
#       --build-arg APP_FROM=context --build-arg ETCD_FROM=context --build-arg NODE_FROM=context …
# Stages not picked are skipped (BuildKit and buildah build only what the final stage uses).
# src/runtime/kubernetes/render-dockerfile.test.ts checks this file against the manifests;
# src/runtime/kubernetes/image.test.ts builds it and runs the manifests' commands in it.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim
ARG GO_IMAGE=docker.io/library/golang:1.24-bookworm
ARG ETCD_VERSION=3.6.16
ARG APP_FROM=source
ARG ETCD_FROM=release
ARG NODE_FROM=image

# --- the package: dependencies from the lock file, compiled and bundled (the bundle carries its
# dependencies, so no node_modules ships) -----------------------------------------------------------
FROM ${NODE_IMAGE} AS app-source
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build \
 && mkdir -p /out/dist \
 && cp -r bin proto package.json /out/ && cp -r dist/bundle dist/web /out/dist/

FROM scratch AS app-context
COPY local/app/ /out/

FROM app-${APP_FROM} AS app

# --- etcd, etcdctl, etcdutl of ETCD_VERSION ----------------------------------------------------------
FROM ${BASE_IMAGE} AS etcd-release
ARG ETCD_VERSION
ARG TARGETARCH
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp/etcd
RUN arch=${TARGETARCH:-amd64} \
 && base=https://github.com/etcd-io/etcd/releases/download/v${ETCD_VERSION} \
 && name=etcd-v${ETCD_VERSION}-linux-${arch} \
 && curl -fsSLO "$base/$name.tar.gz" && curl -fsSLO "$base/SHA256SUMS" \
 && grep " $name.tar.gz\$" SHA256SUMS | sha256sum -c - \
 && mkdir /out && tar -xzf "$name.tar.gz" --strip-components=1 -C /out \
    "$name/etcd" "$name/etcdctl" "$name/etcdutl"

FROM ${GO_IMAGE} AS etcd-proxy
ARG ETCD_VERSION
WORKDIR /src
COPY scripts/install-etcd.sh scripts/
COPY scripts/lib/ scripts/lib/
COPY tools/etcd/ tools/etcd/
RUN ETCD_STEWARD_CACHE=/cache bash scripts/install-etcd.sh "${ETCD_VERSION}" \
 && mkdir /out && cp /cache/etcd/v${ETCD_VERSION}/etcd /cache/etcd/v${ETCD_VERSION}/etcdctl \
    /cache/etcd/v${ETCD_VERSION}/etcdutl /out/

FROM scratch AS etcd-context
COPY local/etcd/etcd local/etcd/etcdctl local/etcd/etcdutl /out/

FROM etcd-${ETCD_FROM} AS etcd

# --- Node: the official image's binary, or one from the context -------------------------------------
FROM ${NODE_IMAGE} AS node-image

FROM scratch AS node-context
COPY local/node /usr/local/bin/node

FROM node-${NODE_FROM} AS node

# --- the image: Debian slim, Node, etcd's tools, our package; no compilers, no npm ------------------
FROM ${BASE_IMAGE}
ARG ETCD_VERSION
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/etcd-steward/etcd-steward
LABEL org.opencontainers.image.title="etcd-steward" \
      org.opencontainers.image.description="Runs, backs up, restores, watches and defragments etcd clusters" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      io.etcd-steward.etcd-version="${ETCD_VERSION}"
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=etcd /out/etcd /out/etcdctl /out/etcdutl /usr/local/bin/
COPY --from=app /out/ /opt/etcd-steward/
# The user, the folders the manifests mount, the command on PATH; then the image checks itself:
# Node 20+, etcd of ETCD_VERSION, and our CLI starting.
RUN groupadd --gid 10001 steward \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/etcd-steward --shell /usr/sbin/nologin steward \
 && mkdir -p /etc/etcd-steward /var/lib/etcd-steward /backups \
 && chown 10001:10001 /var/lib/etcd-steward /backups \
 && ln -s /opt/etcd-steward/bin/etcd-steward.mjs /usr/local/bin/etcd-steward \
 && node -e 'const major = Number(process.versions.node.split(".")[0]); if (major < 20) { console.error(`Node ${process.version} is too old: etcd-steward needs Node 20 or newer`); process.exit(1); }' \
 && [ "$(/usr/local/bin/etcd --version | sed -n 1p)" = "etcd Version: ${ETCD_VERSION}" ] \
 && /usr/local/bin/etcdutl version >/dev/null && /usr/local/bin/etcdctl version >/dev/null \
 && etcd-steward --version
ENV ETCD_STEWARD_CACHE=/var/lib/etcd-steward \
    NODE_ENV=production
USER 10001:10001
WORKDIR /var/lib/etcd-steward
ENTRYPOINT ["etcd-steward"]
CMD ["--help"]
