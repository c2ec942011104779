# Kalends: one image for every role (`serve`, `serve --role api`, `serve --role worker`, `migrate`, ...).
#   docker build -t kalends .
#   docker run --rm kalends --help

# ---------------------------------------------------------------------------------------------- build
FROM rust:1-bookworm AS builder
WORKDIR /src
# sqlx's compile-time checked queries (if any) read the committed `.sqlx/` data instead of a live database.
ENV SQLX_OFFLINE=true
# The whole workspace: src/, ical/, core/, store/, service/, providers/, sandbox/, jobs/, plus
# migrations/ (embedded by `sqlx::migrate!` at compile time) and config/. `.dockerignore` keeps
# target/, data/ and .git/ out.
COPY . .
# Plain RUN (no BuildKit cache mounts) so that the legacy builder works too.
RUN cargo build --release --locked --bin kalends \
 && install -m 0755 target/release/kalends /usr/local/bin/kalends

# ---------------------------------------------------------------------------------------------- runtime
FROM debian:bookworm-slim
# ca-certificates: HTTPS to Google, Microsoft and feed URLs. libssl3: in case a dependency links OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --home-dir /app --shell /usr/sbin/nologin kalends \
 && mkdir -p /app/data \
 && chown kalends:kalends /app/data
WORKDIR /app
COPY --from=builder /usr/local/bin/kalends /usr/local/bin/kalends
COPY config/ /app/config/
USER kalends
ENV KALENDS_LISTEN=0.0.0.0:8080
EXPOSE 8080
# No HEALTHCHECK: the image has no HTTP client. Probe GET /healthz and /readyz from the orchestrator.
ENTRYPOINT ["kalends"]
CMD ["serve"]
