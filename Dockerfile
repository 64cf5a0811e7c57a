# vaultward container image: one static binary in an empty (scratch) image, running as
# 65534:65534 (nobody). About 5 MB; no shell, no package manager, nothing else to patch.
#
# Build from source (the build stage uses the official Rust image):
#
#   docker build -t vaultward .
#
# Build only the runtime stage, from a binary built on this machine (nothing is pulled: both
# stages used are FROM scratch). The build arg selects the stage the binary comes from, and the
# context is a directory holding just the binary and a CA bundle:
#
#   RUSTFLAGS="-C target-feature=+crt-static" \
#     cargo build --release --locked --target x86_64-unknown-linux-gnu
#   context="$(mktemp -d)"
#   cp target/x86_64-unknown-linux-gnu/release/vaultward "$context"/
#   cp /etc/ssl/certs/ca-certificates.crt "$context"/
#   docker build --target runtime --build-arg BINARY_STAGE=local \
#     -f Dockerfile -t vaultward "$context"
#
# (podman build takes the same arguments.) Run it with the config and the credential files
# mounted, and a directory writable by 65534 for the token sink and the rendered templates.
# The image has no writable directory of its own. With a read-only credentials mount, set
# remove_secret_id_file_after_reading = false (or mount it writable, so the used secret_id
# file can be removed):
#
#   docker run --rm -e VAULT_ADDR=https://vault.example.com:8200 \
#     -v ./config.hcl:/etc/vault/config.hcl:ro -v ./approle:/etc/vault/approle \
#     -v ./out:/out vaultward
#
# The image holds the CA bundle of its build (Debian's ca-certificates) at
# /etc/ssl/certs/ca-certificates.crt, for https servers with a public certificate; for a private
# CA set vault.ca_cert, VAULT_CACERT or -ca-cert.

# Where the binary comes from: "build" (compile it here) or "local" (take it from the context).
ARG BINARY_STAGE=build

# --- build: a static binary (glibc, crt-static), checked to be static -------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --locked --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/vaultward /vaultward \
 && cp /etc/ssl/certs/ca-certificates.crt /ca-certificates.crt \
 && (ldd /vaultward 2>&1 || true) | grep -Eq 'statically linked|not a dynamic executable' \
 && /vaultward version

# --- local: a binary built outside, from the build context -------------------------------------
FROM scratch AS local
COPY vaultward /vaultward
COPY ca-certificates.crt /ca-certificates.crt

# --- the chosen source of the binary -------------------------------------------------------------
FROM ${BINARY_STAGE} AS binary

# --- runtime -------------------------------------------------------------------------------------
FROM scratch AS runtime
COPY --from=binary /ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /vaultward /vaultward
USER 65534:65534
ENTRYPOINT ["/vaultward"]
CMD ["agent", "-config=/etc/vault/config.hcl"]
