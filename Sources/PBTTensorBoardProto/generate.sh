#!/usr/bin/env bash
# Regenerates the Swift files beside this script from TensorBoard's protocol buffers (the
# Event, Summary and tensor messages, and the hparams and text plugins' data), as they ship
# in the tensorboard wheel on PyPI: its modules carry each .proto file's descriptor, which
# protoc reads instead of the .proto text.
#
# Needs python3 (venv, pip), protoc (apt-get install protobuf-compiler) and protoc-gen-swift
# of the swift-protobuf version Package.swift names, on PATH or as PROTOC_GEN_SWIFT:
#
#     git clone --branch 1.39.0 https://github.com/apple/swift-protobuf
#     (cd swift-protobuf && swift build -c release --product protoc-gen-swift)
#     PROTOC_GEN_SWIFT=swift-protobuf/.build/release/protoc-gen-swift \
#         Sources/PBTTensorBoardProto/generate.sh
#
# The files it writes are committed: building protoc-gen-swift is not part of a build of pbt.
set -euo pipefail
TENSORBOARD_VERSION=2.21.0
here="$(cd "$(dirname "$0")" && pwd)"
plugin="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}"
if [ -z "$plugin" ]; then
    echo "generate.sh: protoc-gen-swift not found; set PROTOC_GEN_SWIFT (see the comment at the top)" >&2
    exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "tensorboard==$TENSORBOARD_VERSION"
"$work/venv/bin/python" - "$work/descriptors.pb" <<'PY'
import sys
from google.protobuf import descriptor_pb2
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import plugin_data_pb2 as hparams_plugin_data_pb2
from tensorboard.plugins.text import plugin_data_pb2 as text_plugin_data_pb2

files = descriptor_pb2.FileDescriptorSet()
seen = set()

def add(descriptor):
    if descriptor.name in seen:
        return
    for dependency in descriptor.dependencies:
        add(dependency)
    seen.add(descriptor.name)
    files.file.append(descriptor_pb2.FileDescriptorProto.FromString(descriptor.serialized_pb))

for module in (event_pb2, hparams_plugin_data_pb2, text_plugin_data_pb2):
    add(module.DESCRIPTOR)
with open(sys.argv[1], "wb") as out:
    out.write(files.SerializeToString())
PY
rm -f "$here"/*.pb.swift
# google/protobuf/struct.proto is a well-known type: SwiftProtobuf has its Swift already.
protoc --descriptor_set_in="$work/descriptors.pb" --plugin=protoc-gen-swift="$plugin" \
    --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores --swift_out="$here" \
    tensorboard/compat/proto/event.proto tensorboard/compat/proto/summary.proto \
    tensorboard/compat/proto/histogram.proto tensorboard/compat/proto/tensor.proto \
    tensorboard/compat/proto/tensor_shape.proto tensorboard/compat/proto/types.proto \
    tensorboard/compat/proto/resource_handle.proto \
    tensorboard/plugins/hparams/api.proto tensorboard/plugins/hparams/plugin_data.proto \
    tensorboard/plugins/text/plugin_data.proto
ls "$here"/*.pb.swift
