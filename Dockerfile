# syntax=docker/dockerfile:1
#
# skimwatch in a container: the daemon plus Debian's Chromium, running as an unprivileged user.
#
#   docker build -t skimwatch:0.1.0 .
#   docker run --init -v skimwatch-data:/var/lib/skimwatch \
#     -v "$PWD/skimwatch.toml:/etc/skimwatch/skimwatch.toml:ro" -v "$PWD/baselines:/etc/skimwatch/baselines" \
#     -e SKIMWATCH_SMTP_PASSWORD -p 127.0.0.1:9898:9898 skimwatch:0.1.0
#
# The same image runs every other command: `docker run … skimwatch:0.1.0 status --config …`.
# On Kubernetes the browser is a sidecar instead (deploy/kubernetes/README.md) and the Chromium
# in this image is not started.
#
# The syntax line above selects BuildKit's Dockerfile frontend, for the cache mounts and the
# heredoc below (Docker ≥ 23 builds with BuildKit by default).

# ---------------------------------------------------------------------------------------------
# Build stage: the official Rust image on the same Debian release as the runtime stage, so the
# binary links against the glibc it runs with. It brings gcc, which the bundled SQLite
# (rusqlite's `bundled` feature) and ring need; nothing else is installed.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# The whole workspace: the binary compiles in the demo shop (crates/testshop), the alert
# templates (alerts/) and its own HTML templates; Cargo reads every target the manifest names
# (tests/, benches/). .dockerignore keeps target/, .git and databases out of the context.
COPY . .
# --locked: exactly the dependency versions of Cargo.lock, or fail. The cache mounts keep the
# crates.io downloads and the compiled dependencies between builds; they are not part of the
# image, hence the copy out of target/ in the same step. `--features yara`: the shipped binary
# runs the YARA rules (docs/intel.md).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --features yara --bin skimwatch \
    && install -m 0755 target/release/skimwatch /usr/local/bin/skimwatch

# ---------------------------------------------------------------------------------------------
# Runtime stage.
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="skimwatch" \
      org.opencontainers.image.description="Self-hosted monitor that catches e-skimming (Magecart) code on checkout pages" \
      org.opencontainers.image.licenses="Apache-2.0"

# Debian's chromium is the browser the test suite runs (never a downloaded build);
# ca-certificates for the shops' and the mail server's TLS (skimwatch checks certificates against
# the system's trust store); fonts-liberation so that pages and the payment-page screenshots
# render text with metric-compatible Arial/Times/Courier faces. No recommended packages, and the
# package lists go, to keep the image small. Versions are not pinned on purpose: a rebuild picks
# up Debian's security updates of Chromium, which the monitor needs more than reproducibility.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium ca-certificates fonts-liberation \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# Chromium's own sandbox needs unprivileged user namespaces, and Docker's and Kubernetes'
# default seccomp profiles refuse them to a process without CAP_SYS_ADMIN: there a non-root
# Chromium stops with "No usable sandbox!". skimwatch adds --no-sandbox only when it runs as
# root, so Debian's launcher (/usr/bin/chromium sources /etc/chromium.d/*) adds it when a user
# namespace cannot be created, and keeps the sandbox wherever the runtime allows one (for
# example with a seccomp profile that permits user namespaces). Without it, the container
# (non-root, no capabilities, the runtime's seccomp profile) is the boundary around the pages.
COPY <<'EOF' /etc/chromium.d/zz-skimwatch-sandbox
# Written by skimwatch's Dockerfile: run without Chromium's sandbox only where it cannot work.
if [ "$(id -u)" != 0 ] && ! unshare --user --pid --net --fork true 2>/dev/null; then
  echo "skimwatch image: user namespaces are refused here, so Chromium runs with --no-sandbox; the container is its boundary" >&2
  export CHROMIUM_FLAGS="$CHROMIUM_FLAGS --no-sandbox"
fi
EOF

# A fixed, unprivileged uid/gid (10001, as deploy/kubernetes runs it), whose home is the state
# directory: the SQLite database, its WAL and the daemon lock (`<database>.lock`) live there.
RUN groupadd --system --gid 10001 skimwatch \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/skimwatch --create-home \
       --shell /usr/sbin/nologin skimwatch \
    && mkdir -p /etc/skimwatch

COPY --from=build /usr/local/bin/skimwatch /usr/local/bin/skimwatch

# The Chromium skimwatch launches when [browser] endpoint is not set (CHROME overrides
# [browser] executable).
ENV CHROME=/usr/bin/chromium
# glibc's per-thread malloc arenas fragment over months of scans: the daemon's RSS grew ~30 KB
# per scan without this cap, ~6 KB with it (benches/throughput.rs).
ENV MALLOC_ARENA_MAX=2

# The state directory is the working directory: a relative `[storage] database` lands there.
# Mount a volume on it; the config (and with it the baselines folder, which is relative to the
# config by default) is mounted under /etc/skimwatch.
WORKDIR /var/lib/skimwatch
# Numeric, so that Kubernetes' runAsNonRoot can verify it without a runAsUser.
USER 10001:10001

# [watch] listen: /metrics and /healthz (the example config listens on 0.0.0.0:9898).
EXPOSE 9898

# skimwatch handles SIGTERM itself (in-flight scans get 15 s, queued alerts one more attempt).
# It does not reap orphans: run it with `docker run --init` when it launches Chromium itself, so
# that a crashed browser's child processes do not linger as zombies.
ENTRYPOINT ["skimwatch"]
CMD ["watch", "--config", "/etc/skimwatch/skimwatch.toml"]
