# syntax=docker/dockerfile:1
# CPU-only image of the fractal render service (debian:12-slim, -DFRACTAL_CUDA=OFF):
# for laptops, CI and CPU-only Kubernetes nodes. Same layout, user, volumes and
# defaults as Dockerfile.cuda; the CPU backend is the multi-core SIMD one
# (Highway runtime dispatch: AVX-512 / AVX2 / SSE4 / NEON).
#
#   docker build -t REGISTRY/fractal-render:VERSION-cpu --build-arg VERSION=VERSION .
#
# Pin the base by digest in CI (debian:12-slim@sha256:...) for reproducible builds.

# Stage 1: build.
FROM debian:12-slim AS build

ARG DEBIAN_FRONTEND=noninteractive
# openimageio-tools: the OpenImageIO CMake config of Debian/Ubuntu references
# /usr/bin/iconvert, so find_package(OpenImageIO) fails without it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config binutils \
      libhwy-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libmpfr-dev \
      libopenimageio-dev openimageio-tools \
      libpistache-dev libpqxx-dev libhiredis-dev libsodium-dev libargon2-dev libjwt-dev libssl-dev \
      prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRACTAL_CUDA=OFF -DFRACTAL_BUILD_TESTS=OFF \
 && cmake --build /build --target fractal-server fractal-worker fractal-render \
 && mkdir -p /out/bin \
 && install -m 0755 -s /build/bin/fractal-server /build/bin/fractal-worker /build/bin/fractal-render /out/bin/ \
 && install -m 0755 deploy/docker/healthcheck.sh /out/bin/fractal-healthcheck \
 && deploy/docker/runtime-packages.sh /out/bin/fractal-server /out/bin/fractal-worker /out/bin/fractal-render \
      > /out/runtime-packages.txt \
 && if grep -- '-dev$' /out/runtime-packages.txt; then echo "a -dev package would reach the runtime image" >&2; exit 1; fi \
 && cat /out/runtime-packages.txt

# Stage 2: the browser client (web/, Vue + Vite) built to static files.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY web/ ./
RUN npm run build

# Stage 3: runtime packages of the shared libraries + the binaries.
FROM debian:12-slim AS runtime

ARG VERSION=0.1.0
ARG VCS_REF=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="fractal-render (CPU)" \
      org.opencontainers.image.description="Mandelbrot/Julia render service: fractal-server, fractal-worker, fractal-render; SIMD CPU backend" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.source="https://example.invalid/fractal-render" \
      org.opencontainers.image.documentation="docs/deploy.md" \
      org.opencontainers.image.licenses="NOASSERTION" \
      org.opencontainers.image.base.name="docker.io/library/debian:12-slim"

ARG DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /usr/share/fractal/runtime-packages.txt
RUN apt-get update \
 && xargs -r -a /usr/share/fractal/runtime-packages.txt apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 fractal \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin fractal \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0750 /data

COPY --from=build /out/bin/ /usr/local/bin/
# The web route group serves the client from here (fractal-server --routes ...,web).
COPY --from=web /web/dist/ /usr/local/share/fractal/web/
# Fails the build when a shared library is missing from the runtime stage.
RUN if ldd /usr/local/bin/fractal-server /usr/local/bin/fractal-worker /usr/local/bin/fractal-render | grep 'not found'; then exit 1; fi \
 && fractal-render --help >/dev/null

ENV FRACTAL_BIND=0.0.0.0 \
    FRACTAL_WEB_DIR=/usr/local/share/fractal/web \
    FRACTAL_PORT=8080 \
    FRACTAL_DATA_DIR=/data \
    FRACTAL_BACKEND=cpu \
    HOME=/tmp

USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD ["fractal-healthcheck", "/livez"]
CMD ["fractal-server"]
