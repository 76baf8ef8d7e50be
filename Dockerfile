# The etcd-steward image: the CLI and agent (`serve`), with etcd, etcdctl and etcdutl of one etcd
# line (restore init containers run etcdutl; drills run etcd). Used by the agent Deployment, the
# CronJobs and the restore init container that `render kubernetes` / `restore --runtime kubernetes`
# write. Build and push (no container engine runs in this repo's CI):
#   docker build --build-arg ETCD_VERSION=3.6.16 -t ghcr.io/etcd-steward/etcd-steward:0.1.0 .
#   docker push ghcr.io/etcd-steward/etcd-steward:0.1.0
# src/runtime/kubernetes/render-dockerfile.test.ts checks this file against the manifests.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG ETCD_VERSION=3.6.16

# 1. Our package: dependencies from the lock file, compiled and bundled, dev dependencies dropped.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

# 2. etcd's official release archive for the chosen version, checked against its SHA256SUMS.
FROM debian:bookworm-slim AS etcd
ARG ETCD_VERSION
ARG TARGETARCH=amd64
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp/etcd
RUN base=https://github.com/etcd-io/etcd/releases/download/v${ETCD_VERSION} \
 && archive=etcd-v${ETCD_VERSION}-linux-${TARGETARCH}.tar.gz \
 && curl -fsSLO "$base/$archive" && curl -fsSLO "$base/SHA256SUMS" \
 && grep " $archive\$" SHA256SUMS | sha256sum -c - \
 && mkdir /out && tar -xzf "$archive" --strip-components=1 -C /out \
    etcd-v${ETCD_VERSION}-linux-${TARGETARCH}/etcd \
    etcd-v${ETCD_VERSION}-linux-${TARGETARCH}/etcdctl \
    etcd-v${ETCD_VERSION}-linux-${TARGETARCH}/etcdutl

# 3. Runtime: Node and our built package only — no compilers, no package manager caches.
FROM ${NODE_IMAGE}
ARG ETCD_VERSION
LABEL org.opencontainers.image.title="etcd-steward" \
      org.opencontainers.image.description="Runs, backs up, restores, watches and defragments etcd clusters" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.etcd-steward.etcd-version="${ETCD_VERSION}"
RUN groupadd --gid 10001 steward \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/etcd-steward --shell /usr/sbin/nologin steward \
 && mkdir -p /etc/etcd-steward /var/lib/etcd-steward /backups \
 && chown 10001:10001 /var/lib/etcd-steward /backups \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
COPY --from=etcd /out/etcd /out/etcdctl /out/etcdutl /usr/local/bin/
WORKDIR /opt/etcd-steward
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/proto ./proto
RUN ln -s /opt/etcd-steward/bin/etcd-steward.mjs /usr/local/bin/etcd-steward
ENV ETCD_STEWARD_CACHE=/var/lib/etcd-steward \
    NODE_ENV=production
USER 10001:10001
WORKDIR /var/lib/etcd-steward
ENTRYPOINT ["etcd-steward"]
CMD ["--help"]
