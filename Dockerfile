# Homeward in a container: build with the Rust toolchain, run on a slim Debian.
# Templates and migrations are compiled into the binary; only static/ is copied.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
# compile-time checked SQL reads its offline data: no database needed to build
COPY .cargo .cargo
COPY .sqlx .sqlx
COPY src src
COPY templates templates
COPY migrations migrations
COPY benches benches
COPY static static
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app homeward
WORKDIR /app
COPY --from=build /src/target/release/homeward /usr/local/bin/homeward
COPY static /app/static
ENV HOMEWARD_STATIC_DIR=/app/static
USER homeward
EXPOSE 8080
CMD ["homeward", "serve", "--addr", "0.0.0.0:8080", "--demo"]
