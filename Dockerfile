# cloak serve in a container: a build stage with the Rust toolchain, and a
# runtime stage on NVIDIA's CUDA runtime image. crates/gpu loads libcuda and
# NVRTC at run time (cudarc, CUDA 13 API): the runtime image brings NVRTC,
# the NVIDIA container toolkit injects the host's libcuda (and NVML, which
# `cloak attest` uses for the GPU CC-mode report). Without a GPU the same
# binary runs and proves on the CPU.
#
#   docker build -t cloak .
#   docker run --rm -p 8080:8080 -v cloak-data:/data cloak serve --attest dev --listen 0.0.0.0:8080 --data-dir /data
#
# docs/deploy.md: the whole deployment in a dstack CVM with a GPU.

# glibc of the build stage (Debian 12: 2.36) must not be newer than the
# runtime's (Ubuntu 24.04: 2.39).
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# For the host that runs the image, not the one that builds it (the
# `target-cpu=native` of .cargo/config.toml would be the builder's):
# x86-64-v4 (AVX-512) is on every TDX host (Sapphire Rapids and later);
# pass --build-arg CLOAK_RUSTFLAGS="-C target-cpu=x86-64-v3" for AVX2 only.
ARG CLOAK_RUSTFLAGS="-C target-cpu=x86-64-v4"
RUN RUSTFLAGS="${CLOAK_RUSTFLAGS}" cargo build --release --locked -p cloak-cli \
    && install -D -m 0755 target/release/cloak /out/cloak

FROM ${RUNTIME_IMAGE} AS runtime
# compute: CUDA; utility: NVML (GPU CC-mode evidence).
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=build /out/cloak /usr/local/bin/cloak
# The example guests, for smoke tests (`cloak client prove /usr/share/cloak/guests/fibonacci.elf ...`).
COPY guests/bin/ /usr/share/cloak/guests/
# The job database and the key seeds; in a CVM this must be the encrypted
# data disk (docs/deploy.md, "Keys and data").
RUN mkdir -p /data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["cloak"]
CMD ["serve", "--attest", "tee", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
