# The image behind the action: one static binary and a CA bundle, FROM scratch.
#
# Built on each release tag by .github/workflows/release.yml (natively for
# linux/amd64 and linux/arm64); the tag's action.yml then points at the pushed
# image by digest (docs/release.md). The cargo invocation lives in
# .ci/build-static, which .ci/docker-build also runs, so CI checks the very
# build this file does.
#
# Base image: rust:1.95-slim-bookworm (a multi-platform index). To bump it,
# take the new index digest from `docker buildx imagetools inspect
# rust:1.95-slim-bookworm` and replace both the tag and the digest.
FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS build
WORKDIR /src

# Dependencies in a layer of their own: a stub crate with the real manifest
# and lock file compiles every dependency, so a change in src/ rebuilds only
# the crate itself.
COPY Cargo.toml Cargo.lock ./
COPY .ci/build-static .ci/build-static
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && .ci/build-static

# COPY keeps the files' times, which can be older than the stub's: touch them
# so that cargo rebuilds the crate instead of reusing the stub.
COPY src src
RUN touch src/main.rs src/lib.rs \
    && .ci/build-static /turso-rotate

# GitHub's rules for Docker actions: no USER (the action runs as the default
# user, root, or it cannot write the mounted workspace), no WORKDIR (the
# runner sets the working directory to the workspace), an absolute exec-form
# ENTRYPOINT (no shell: /bin/sh would drop the INPUT_SECRET-NAME style
# variables, and scratch has none anyway).
FROM scratch
# The GitHub client (src/tls.rs) trusts the roots of this one file.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /turso-rotate /turso-rotate
ENTRYPOINT ["/turso-rotate"]
