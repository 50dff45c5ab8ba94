#!/usr/bin/env bash
# Makes the runtime base image from Debian's packages, where no image registry is reachable:
# Debian bookworm minbase plus what pbt links (libzmq5, OpenBLAS, SQLite) and tini, without
# manuals, documentation (copyright files stay) and translations, imported into the engine at
# DOCKER_HOST. The image docker/Dockerfile builds FROM it is then as slim as one FROM
# debian:bookworm-slim (its apt-get step finds everything installed and does nothing).
#
# Usage: docker/make-base.sh [TAG]      (default local/pbt-runtime:bookworm; 20–80 s)
# Needs: mmdebstrap (apt-get install mmdebstrap), a running Docker engine, Debian's mirror.
set -euo pipefail
tag=${1:-local/pbt-runtime:bookworm}
packages=libzmq5,libopenblas0-pthread,libsqlite3-0,tini
mmdebstrap --quiet --variant=minbase --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm - \
    | docker import --message "mmdebstrap bookworm minbase + $packages" - "$tag" > /dev/null
echo "make-base: $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
