// swift-tools-version:6.0
// libFuzzer harnesses over Parley's input paths. Built and run by scripts/fuzz (not part of
// the main package: the harnesses need -sanitize=fuzzer, which a dependency must not carry).
import PackageDescription

let harness: [Target.Dependency] = [.product(name: "Parley", package: "Parley")]

let package = Package(
    name: "ParleyFuzz",
    dependencies: [.package(name: "Parley", path: "../..")],
    targets: [
        .executableTarget(name: "FuzzConfig", dependencies: harness),
        .executableTarget(name: "FuzzSeeds", dependencies: harness),
        .executableTarget(name: "FuzzJSON", dependencies: harness),
        .executableTarget(name: "FuzzJournal", dependencies: harness),
        .executableTarget(name: "FuzzHost", dependencies: [.product(name: "ParleyCStatic", package: "Parley")]),
    ],
    swiftLanguageModes: [.v6]
)
