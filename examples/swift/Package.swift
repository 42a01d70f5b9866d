// swift-tools-version:6.0
// A Swift program that adds Parley as a SwiftPM dependency (here by path) and uses its
// async API directly: `swift run --package-path examples/swift`.
import PackageDescription

let package = Package(
    name: "SwiftExample",
    dependencies: [.package(name: "Parley", path: "../..")],
    targets: [
        .executableTarget(name: "SwiftExample", dependencies: [.product(name: "Parley", package: "Parley")])
    ],
    swiftLanguageModes: [.v6]
)
