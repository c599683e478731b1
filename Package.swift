// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "DTE",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dte", targets: ["dte"]),
        .executable(name: "dte-plan", targets: ["dte-plan"]),
        .executable(name: "dte-apply", targets: ["dte-apply"]),
        .executable(name: "dte-agent", targets: ["dte-agent"]),
        .library(name: "DTEModel", targets: ["DTEModel"]),
        .library(name: "DTECompiler", targets: ["DTECompiler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
    ],
    targets: [
        // MARK: templates → model → compiler
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // YAML trees with marks, the bounded libyaml loader and diagnostics: shared by the compiler and the agent
        .target(name: "DTEYAML", dependencies: ["CYAML"], swiftSettings: strict),
        .target(name: "DTEModel", dependencies: ["DTEYAML"], swiftSettings: strict),
        .target(name: "DTECompiler", dependencies: ["DTEModel"], swiftSettings: strict),
        .target(name: "DTEViews", dependencies: ["DTEModel", "DTECompiler", "DTEPlanner", "DTEApply"], swiftSettings: strict),
        .target(name: "DTEProcess", swiftSettings: strict),
        .target(name: "DTEState", dependencies: [.product(name: "GRDB", package: "GRDB.swift")], swiftSettings: strict),
        .target(name: "DTEPlanner", dependencies: ["DTEModel", "DTECompiler", "DTEState"], swiftSettings: strict),
        .target(name: "DTEApply", dependencies: ["DTEModel", "DTEPlanner", "DTEState"], swiftSettings: strict),
        .target(
            name: "DTEEngine",
            dependencies: ["DTEModel", "DTECompiler", "DTEPlanner", "DTEState", "DTEApply"],
            swiftSettings: strict
        ),
        .target(
            name: "DTEReconcile",
            dependencies: [
                "DTEModel", "DTECompiler", "DTEPlanner", "DTEState", "DTEApply", "DTEEngine", "DTEProcess",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "DTEProviders",
            dependencies: [
                "DTEApply", "DTEPlanner", "DTEProcess", "PodWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "DTEQuality",
            dependencies: [
                "DTEModel", "DTECompiler", "DTEPlanner", "DTEState", "DTEApply", "DTEProcess",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "DTECommands",
            dependencies: [
                "DTEModel", "DTECompiler", "DTEViews", "DTEPlanner", "DTEState", "DTEApply", "DTEEngine", "DTEHooks", "DTEProviders", "DTEQuality", "DTEReconcile", "DTENotify", "PodWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "DTENotify",
            dependencies: [
                "DTECompiler",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(name: "DTEHooks", dependencies: ["DTEApply", "DTEPlanner", "DTECompiler", "DTEModel", "DTEViews", "DTEProcess"], swiftSettings: strict),
        .executableTarget(name: "dte", dependencies: ["DTECommands"], swiftSettings: strict),
        .executableTarget(name: "dte-plan", dependencies: ["DTECommands"], swiftSettings: strict),
        .executableTarget(name: "dte-apply", dependencies: ["DTECommands"], swiftSettings: strict),

        // MARK: HPC-edge agent
        .systemLibrary(
            name: "CSlurm",
            providers: [.apt(["libslurm-dev"])]
        ),
        .target(name: "PodWire", swiftSettings: strict),
        .target(
            name: "EdgeAgent",
            dependencies: [
                "PodWire", "CSlurm", "DTEYAML",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "dte-agent",
            dependencies: [
                "EdgeAgent", "PodWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // MARK: fuzzing (scripts/fuzz.sh builds agent-fuzz with libFuzzer)
        // FuzzDriver: the `main` both fuzz executables share (libFuzzer's driver, or a corpus replay)
        .target(name: "FuzzDriver", swiftSettings: strict),
        .target(
            name: "AgentFuzzing",
            dependencies: ["EdgeAgent", "PodWire", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .executableTarget(name: "agent-fuzz", dependencies: ["AgentFuzzing", "FuzzDriver"], swiftSettings: strict),
        // (scripts/fuzz.sh compiler builds compiler-fuzz: arbitrary bytes through the YAML loader and the compiler)
        .target(name: "CompilerFuzzing", dependencies: ["DTEModel", "DTECompiler"], swiftSettings: strict),
        .executableTarget(name: "compiler-fuzz", dependencies: ["CompilerFuzzing", "FuzzDriver"], swiftSettings: strict),

        // MARK: tests
        .target(
            name: "DTETestSupport",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "Tests/DTETestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "DTEQualityTests",
            dependencies: [
                "DTEQuality", "DTEApply", "DTEPlanner", "DTECompiler", "DTETestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DTEGitOpsTests",
            dependencies: [
                "DTENotify", "DTECommands", "DTECompiler", "DTEModel", "DTEViews", "DTEPlanner", "DTETestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "DTEModelTests", dependencies: ["DTEModel"], swiftSettings: strict),
        .testTarget(name: "DTEProcessTests", dependencies: ["DTEProcess"], swiftSettings: strict),
        .testTarget(name: "DTEStateTests", dependencies: ["DTEState"], swiftSettings: strict),
        .testTarget(
            name: "DTEApplyTests",
            dependencies: ["DTEState", "DTETestSupport", "DTEProviders", "PodWire", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DTEEngineTests",
            dependencies: ["DTEEngine", "DTEApply", "DTEPlanner", "DTEState", "DTECompiler", "DTEModel", "DTEViews"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DTEReconcileTests",
            dependencies: [
                "DTEReconcile", "DTEEngine", "DTEHooks", "DTEProviders", "DTEApply", "DTEPlanner", "DTEState", "DTECompiler", "DTEModel",
                "DTETestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "DTEPlannerTests", dependencies: ["DTEPlanner", "DTECompiler", "DTEState", "DTEModel", "DTETestSupport"], swiftSettings: strict),
        .testTarget(
            name: "DTECompilerTests",
            dependencies: ["DTEModel", "DTECompiler", "DTEViews", "DTETestSupport", "CompilerFuzzing"],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DTEHooksTests",
            dependencies: ["DTEHooks", "DTEApply", "DTEPlanner", "DTECompiler", "DTEModel", "DTEViews", "DTEState", "DTETestSupport"],
            exclude: ["Golden"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EdgeAgentTests",
            dependencies: [
                "EdgeAgent", "PodWire", "DTETestSupport", "AgentFuzzing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["Fixtures/fake-htcondor", "Fixtures/vk-test-set"],
            swiftSettings: strict
        ),
    ]
)
