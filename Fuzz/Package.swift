// swift-tools-version:5.4
// libFuzzer targets for babymonitor's parsers of untrusted input: one executable per parser.
// A separate package so that the main `swift build` never sees the sanitizer flags.
// Build and run them with scripts/fuzz (which passes -sanitize=fuzzer,address).
import PackageDescription

// No `main`: libFuzzer's runtime provides it and calls LLVMFuzzerTestOneInput.
let fuzzTarget: [SwiftSetting] = [.unsafeFlags(["-parse-as-library", "-swift-version", "6"])]
// The toolchain's lld: gold warns about every ASan helper symbol it cannot export.
let fuzzLink: [LinkerSetting] = [.unsafeFlags(["-use-ld=lld"])]

let package = Package(
    name: "BabymonitorFuzz",
    dependencies: [
        .package(name: "babymonitor", path: "babymonitor"),
    ],
    targets: [
        .executableTarget(name: "fuzz-wav", dependencies: [
            .product(name: "AudioIO", package: "babymonitor"),
        ], swiftSettings: fuzzTarget, linkerSettings: fuzzLink),
        .executableTarget(name: "fuzz-model", dependencies: [
            .product(name: "CryModel", package: "babymonitor"),
        ], swiftSettings: fuzzTarget, linkerSettings: fuzzLink),
        .executableTarget(name: "fuzz-config", dependencies: [
            .product(name: "MonitorDaemon", package: "babymonitor"),
        ], swiftSettings: fuzzTarget, linkerSettings: fuzzLink),
        .executableTarget(name: "fuzz-request", dependencies: [
            .product(name: "ControlProtocol", package: "babymonitor"),
        ], swiftSettings: fuzzTarget, linkerSettings: fuzzLink),
        .executableTarget(name: "fuzz-night-report", dependencies: [
            .product(name: "NightReport", package: "babymonitor"),
        ], swiftSettings: fuzzTarget, linkerSettings: fuzzLink),
    ],
    swiftLanguageVersions: [.v5]
)
