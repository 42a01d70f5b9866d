// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Parley",
    // Synchronization's Atomic (macOS 15); on Linux any Swift 6 toolchain.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Parley", targets: ["Parley"]),
        .executable(name: "parley", targets: ["ParleyCLI"]),
        // The C ABI (include/parley.h). scripts/build-lib makes the self-contained libparley.so.
        .library(name: "ParleyC", type: .dynamic, targets: ["ParleyCABI"]),
        // The same linked statically: the C ABI fuzz harness, whose coverage libFuzzer must see.
        .library(name: "ParleyCStatic", type: .static, targets: ["ParleyCABI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        // The metrics endpoint: NIO's HTTP server (already under AsyncHTTPClient) and the Prometheus format.
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        // AsyncHTTPClient's tracing API: its requests open no span unless the host bootstrapped a tracer.
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // The dialogue engine: pure Swift + FoundationEssentials, plus AsyncHTTPClient for the HTTP
        // backend and NIO + swift-prometheus for the live metrics endpoint.
        .target(
            name: "Parley",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                // Already under NIO: the scripted backend's timer heap.
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // jansson, for the C ABI target (see include/): `apt-get install libjansson-dev`.
        .systemLibrary(
            name: "CJansson",
            pkgConfig: "jansson",
            providers: [.apt(["libjansson-dev"])]
        ),
        // The @_cdecl exports of include/parley.h: conversions between C/JSON and the core only.
        .target(name: "ParleyCABI", dependencies: ["Parley", "CJansson"]),
        .executableTarget(
            name: "ParleyCLI",
            dependencies: [
                "Parley", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // Its event loops run the command's tasks (ParleyCommand.main).
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "ParleyBench",
            dependencies: [
                "Parley",
                // The HTTP benchmark's stub server.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "benchmarks/ParleyBench"
        ),
        // examples/swift's program, built here too so the tests run it without a second build of
        // Parley; Tests/e2e/test_swift_example.py checks that package's own manifest resolves.
        .executableTarget(name: "SwiftExample", dependencies: ["Parley"], path: "examples/swift/Sources/SwiftExample"),
        .testTarget(
            name: "ParleyTests",
            dependencies: [
                "Parley",
                // HTTP1ClientTests' loopback server.
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
