// swift-tools-version: 6.1
import PackageDescription

/// Targets, from the bottom up (imports only point down this list):
///
///     CZeroMQ      libzmq as a system library (pkg-config libzmq, apt libzmq3-dev)
///     ZeroMQ       a thin Swift wrapper over libzmq; knows nothing of PBT
///     PBTCore      pure logic: spaces, explore, exploit, the selector's state machine
///     PBTConfig    the experiment file: YAML, validation, errors that name the field
///     PBTWire      the versioned binary protocol between stages, and events as JSON
///     PBTStore     the run directory and the content-addressed checkpoint store
///     CBLAS        OpenBLAS (pkg libopenblas-dev), for the mlp workload's matrix products
///     PBTWorkloads what a trainer runs: the Workload protocol and built-in workloads
///     CProcessShims  a wrapper around prctl(2): children die with their parent, threads get names
///     PBTSystem    clocks, signals, child processes that die with their parent
///     PBTStageLoop the one loop every stage runs (poll, messages, turn, stop) and StageTiming
///     PBTStages    one loop per stage around PBTCore, child processes, `pbt run`
///     PBTBench     `pbt bench`: search quality, workload throughput, pipeline overhead, event reading
///     PBTMonitor   pure: the population folded from events, the monitor's screen
///     PBTTensorBoardProto  TensorBoard's protocol buffers as Swift (generated, committed; swift-protobuf)
///     PBTTensorBoard  TensorBoard event files from events: CRC-32C, TFRecord, one run a member
///     PBTWatch     `pbt monitor`, `pbt exporter`, `pbt tensorboard`: event-stream subscribers
///     PBTReport    `pbt report` (HTML, inline SVG) and `pbt replay` (schedule → experiment)
///     pbt          the executable: argument parsing and composition only
let package = Package(
    name: "pbt",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pbt", targets: ["pbt"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // libzmq from the system: apt-get install libzmq3-dev. No `pkgConfig:` on purpose:
        // Debian's libzmq.pc adds `-isystem` flags that SwiftPM refuses with a warning on every
        // build, and zmq.h is in /usr/include, where the module map finds it without flags.
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"])]
        ),
        // OpenBLAS for the mlp workload's matrix products (apt-get install libopenblas-dev).
        .systemLibrary(name: "CBLAS", providers: [.apt(["libopenblas-dev"])]),
        // One fixed-argument wrapper around the variadic prctl(2), which Swift cannot call.
        .systemLibrary(name: "CProcessShims"),
        // A Swift wrapper of libzmq that knows nothing of pbt.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        // CURVE as pbt uses it: key files (`pbt keygen`), a stage's keys, the ZAP handler that
        // admits authorized keys, and connections that say why a handshake failed.
        .target(name: "PBTSecurity", dependencies: ["ZeroMQ", "CZeroMQ"]),
        .target(name: "PBTCore"),
        // Reinforcement-learning environments, gymnasium's own dynamics (pure).
        .target(name: "PBTEnvironments"),
        .target(name: "PBTConfig", dependencies: ["PBTCore", .product(name: "Yams", package: "Yams")]),
        .target(name: "PBTWire", dependencies: ["PBTCore"]),
        .target(
            name: "PBTStore",
            dependencies: [
                "PBTCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(name: "PBTSystem", dependencies: ["CProcessShims"]),
        .target(name: "PBTWorkloads", dependencies: ["CBLAS", "PBTCore", "PBTConfig", "PBTSystem", "PBTEnvironments"]),
        // The loop every stage runs over the sockets it owns, and the timing stages share: a
        // target of its own so that the watchers (PBTWatch) run it without PBTStages.
        .target(name: "PBTStageLoop", dependencies: ["ZeroMQ", "PBTSystem"]),
        .target(
            name: "PBTStages",
            dependencies: [
                "ZeroMQ", "PBTSecurity", "PBTSystem", "PBTStageLoop", "PBTCore", "PBTConfig", "PBTWire", "PBTStore",
                "PBTWorkloads",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PBTBench",
            dependencies: [
                "PBTSystem", "PBTConfig", "PBTWorkloads", "PBTCore", "PBTStore", "ZeroMQ", "PBTSecurity", "PBTMonitor",
                "PBTWatch", "PBTTensorBoard", "PBTWire", "PBTStages",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Watching a run: the population folded from events (pure), for the monitor, the
        // metrics exporter, the report and replay.
        .target(name: "PBTMonitor", dependencies: ["PBTCore", "PBTWire"]),
        // `pbt report` (one HTML page with inline SVG) and `pbt replay`, from a run directory's texts.
        .target(name: "PBTReport", dependencies: ["PBTMonitor", "PBTConfig", "PBTCore", "PBTWire"]),
        // TensorBoard's Event, Summary and plugin messages, generated by generate.sh (which says
        // how) and committed, so that no build needs protoc or protoc-gen-swift.
        .target(
            name: "PBTTensorBoardProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["generate.sh"]
        ),
        // Events → TensorBoard event files (pure but for the files it writes).
        .target(
            name: "PBTTensorBoard",
            dependencies: [
                "PBTTensorBoardProto", "PBTMonitor", "PBTCore", "PBTWire", "PBTSystem",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // The watchers, subscribers of the event stream: `pbt monitor`, `pbt exporter`
        // (Prometheus metrics through swift-metrics, served over a ZeroMQ STREAM socket) and
        // `pbt tensorboard`.
        .target(
            name: "PBTWatch",
            dependencies: [
                "ZeroMQ", "PBTSecurity", "PBTSystem", "PBTStageLoop", "PBTMonitor", "PBTTensorBoard", "PBTCore",
                "PBTWire", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "pbt",
            dependencies: [
                "PBTStages", "PBTBench", "PBTSystem", "PBTConfig", "PBTCore", "PBTWatch", "PBTReport", "PBTTensorBoard",
                "PBTMonitor", "PBTWire", "PBTSecurity", "PBTStore", "PBTWorkloads", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What more than one test target needs (a library of the tests, not of the product).
        .target(name: "PBTTestSupport", path: "Tests/PBTTestSupport"),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "PBTSecurity", "PBTTestSupport"]),
        .testTarget(name: "PBTCoreTests", dependencies: ["PBTCore"]),
        .testTarget(name: "PBTSystemTests", dependencies: ["PBTSystem"]),
        .testTarget(name: "PBTEnvironmentsTests", dependencies: ["PBTEnvironments"], exclude: ["Fixtures"]),
        .testTarget(name: "PBTConfigTests", dependencies: ["PBTConfig", "PBTCore"]),
        .testTarget(name: "PBTWireTests", dependencies: ["PBTWire", "PBTCore"]),
        // GRDB: the store tests write rows by hand (another schema, an unknown phase).
        .testTarget(
            name: "PBTStoreTests", dependencies: ["PBTStore", "PBTCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "PBTWorkloadsTests", dependencies: ["PBTWorkloads", "PBTConfig", "PBTCore"]),
        .testTarget(name: "PBTMonitorTests", dependencies: ["PBTMonitor", "PBTWire", "PBTCore"]),
        .testTarget(
            name: "PBTReportTests", dependencies: ["PBTReport", "PBTMonitor", "PBTConfig", "PBTCore", "PBTWire"]),
        .testTarget(
            name: "PBTTensorBoardTests",
            dependencies: [
                "PBTTensorBoard", "PBTTensorBoardProto", "PBTMonitor", "PBTCore", "PBTWire",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(
            name: "PBTWatchTests",
            dependencies: [
                "PBTWatch", "PBTMonitor", "PBTSystem", "ZeroMQ", "PBTWire",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                // pbt: built before the tests, which spawn it.
                "pbt", "PBTStages", "PBTSystem", "PBTCore", "PBTStore", "PBTWire", "ZeroMQ", "PBTSecurity",
                "PBTTensorBoard", "PBTTensorBoardProto", "PBTTestSupport", "PBTWatch",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
