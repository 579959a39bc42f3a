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
 && deploy/docker/runtime-libs.sh collect /out/libs /out/bin/fractal-server /out/bin/fractal-worker /out/bin/fractal-render

# Stage 2: the browser client (web/, Vue + Vite) built to static files.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY web/ ./
RUN npm run build

# Stage 3: the libraries the binaries load that the runtime base lacks. Only
# these reach the image, not their packages: libopenimageio2.4's package
# dependencies are 337 packages (LLVM, Mesa, GDAL, codecs), its loaded closure
# a fraction of that (see docs/deploy.md, "Image size").
FROM debian:12-slim AS libs
COPY --from=build /out/libs/ /libs/
COPY --from=build /src/deploy/docker/runtime-libs.sh /usr/local/bin/runtime-libs.sh
RUN runtime-libs.sh prune /libs

# Stage 4: the runtime: base + those libraries + the binaries + the web client.
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

# The libraries (no package records: /usr/share/fractal/runtime-libs.txt lists
# each with the package and version it came from; their copyright files are
# under /usr/share/doc/fractal-runtime-libs).
COPY --from=libs /libs/lib/ /usr/local/lib/fractal/
COPY --from=libs /libs/runtime-libs.txt /usr/share/fractal/runtime-libs.txt
COPY --from=libs /libs/copyright/ /usr/share/doc/fractal-runtime-libs/
RUN echo /usr/local/lib/fractal >/etc/ld.so.conf.d/fractal.conf \
 && ldconfig \
 && groupadd --gid 10001 fractal \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin fractal \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0750 /data

COPY --from=build /out/bin/ /usr/local/bin/
# The web route group serves the client from here (fractal-server --routes ...,web).
COPY --from=web /web/dist/ /usr/local/share/fractal/web/
# Fails the build when a shared library is missing from the runtime stage:
# every binary starts, and fractal-render writes each output format.
RUN if ldd /usr/local/bin/fractal-server /usr/local/bin/fractal-worker /usr/local/bin/fractal-render | grep 'not found'; then exit 1; fi \
 && fractal-server --help >/dev/null \
 && fractal-worker --help >/dev/null \
 && for f in png jpg tiff exr; do fractal-render --backend cpu --width 64 --height 40 --max-iter 100 -o /tmp/check.$f >/dev/null || exit 1; done \
 && fractal-render --backend cpu --output iterations --width 64 --height 40 --max-iter 100 -o /tmp/check-n.exr >/dev/null \
 && rm -f /tmp/check*

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
