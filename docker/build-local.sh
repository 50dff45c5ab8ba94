#!/usr/bin/env bash
# Builds the pbt image where no image registry is reachable (CI, our machines), from the same
# docker/Dockerfile that builds it elsewhere from public images:
#
#   1. the runtime base: Debian bookworm minbase with the runtime libraries, made by mmdebstrap
#      from Debian's packages (docker/make-base.sh; once, kept as $PBT_BASE_IMAGE);
#   2. the binary: built here, `swift build -c release --static-swift-stdlib`, stripped into
#      docker/prebuilt/pbt;
#   3. docker build with BUILDER_IMAGE = RUNTIME_IMAGE = that base and PBT_PREBUILT=true: the
#      build stage copies the binary instead of compiling (no Swift toolchain image needed).
#
# Usage: docker/build-local.sh [TAG]          (default pbt:latest)
#   PBT_BASE_IMAGE   the base image's tag (default local/pbt-runtime:bookworm)
#   PBT_PYTHON=1     also build the `python` target as NAME:python (NAME from TAG), which
#                    installs python3-numpy from Debian's mirror (that build uses the network)
#   PBT_UNOPTIMIZED=1  compile with -Onone (the same release configuration and static Swift
#                    runtime, in under half the time; the binary is slower): for checks of the
#                    image and the topologies, like .ci/docker-e2e, not for use
# Needs: a running Docker engine (DOCKER_HOST), the Swift toolchain, strip, and mmdebstrap for
# a base not made yet.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-pbt:latest}
base=${PBT_BASE_IMAGE:-local/pbt-runtime:bookworm}
export DOCKER_BUILDKIT=0   # the legacy builder: what Debian's engine has without buildx

if ! docker image inspect "$base" > /dev/null 2>&1; then
    echo "build-local: making $base (docker/make-base.sh: mmdebstrap)"
    docker/make-base.sh "$base"
fi

flags=(-c release --static-swift-stdlib)
if [ "${PBT_UNOPTIMIZED:-0}" = 1 ]; then flags+=(-Xswiftc -Onone); fi
echo "build-local: swift build ${flags[*]} --product pbt"
swift build "${flags[@]}" --product pbt
binary="$(swift build "${flags[@]}" --show-bin-path)/pbt"
strip -o docker/prebuilt/pbt "$binary"
trap 'rm -f docker/prebuilt/pbt' EXIT

echo "build-local: docker build -t $tag (runtime target)"
docker build --quiet -f docker/Dockerfile \
    --build-arg BUILDER_IMAGE="$base" --build-arg RUNTIME_IMAGE="$base" --build-arg PBT_PREBUILT=true \
    --target runtime -t "$tag" .

if [ "${PBT_PYTHON:-0}" = 1 ]; then
    python_tag="${tag%%:*}:python"
    echo "build-local: docker build -t $python_tag (python target: apt-get install python3-numpy)"
    docker build --quiet --network host -f docker/Dockerfile \
        --build-arg BUILDER_IMAGE="$base" --build-arg RUNTIME_IMAGE="$base" --build-arg PBT_PREBUILT=true \
        --target python -t "$python_tag" .
fi
