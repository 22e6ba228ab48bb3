// swift-tools-version:6.0
// babymonitor: a real-time infant-cry monitor for Linux.
// Layout: one library per stage (audio I/O, features, model, training, detector, control
// protocol, daemon), tiny C system-library targets, thin executables on top.
import PackageDescription

let package = Package(
    name: "babymonitor",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "babymonitord", targets: ["babymonitord"]),
        .executable(name: "monitorctl", targets: ["monitorctl"]),
        .executable(name: "crymodel", targets: ["crymodel"]),
        // Libraries with parsers of untrusted input, for the fuzzing package in Fuzz/.
        .library(name: "AudioIO", targets: ["AudioIO"]),
        .library(name: "CryModel", targets: ["CryModel"]),
        .library(name: "ControlProtocol", targets: ["ControlProtocol"]),
        .library(name: "MonitorDaemon", targets: ["MonitorDaemon"]),
        .library(name: "NightReport", targets: ["NightReport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C system libraries (Debian: libasound2-dev, libfftw3-dev, libsoxr-dev).
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        // libsoxr's header (libsoxr-dev), the library loaded with dlopen on the first
        // resampler: a daemon capturing at the models' rate maps neither it nor libgomp.
        .target(name: "CSoxr", linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libmosquitto's header (libmosquitto-dev), the library loaded with dlopen on the first
        // MQTT client: a daemon with MQTT off maps neither it nor OpenSSL (issue 15).
        .target(name: "CMosquitto", linkerSettings: [.linkedLibrary("dl")]),
        // Run-time-dispatched SIMD kernels (AVX2+FMA when the CPU has them; no build flags).
        .target(name: "CCryKernels"),

        // Opening files safely (no symlinks, FIFOs or oversized files); used by every stage
        // that reads or writes a file.
        .target(name: "FileSafety"),

        // Named detached POSIX threads and a pthread-mutex-guarded value: what the daemon and
        // the MQTT link used Foundation's Thread and NSLock for (issue 15: no full Foundation).
        .target(name: "ThreadSupport"),

        // Stages.
        .target(name: "AudioIO", dependencies: ["CALSA", "CSoxr", "FileSafety"]),
        .target(name: "Features", dependencies: ["CFFTW"]),
        .target(name: "CryModel", dependencies: ["Features", "CCryKernels", "FileSafety"]),
        .target(name: "CryTraining", dependencies: ["CryModel", "Features", "AudioIO"]),
        .target(name: "CryDetector", dependencies: ["CryModel", "Features"]),
        .target(name: "ControlProtocol"),
        // The morning report: reads the event log (rotated, .gz) into a night, renders it.
        .target(name: "NightReport", dependencies: ["ControlProtocol", "CZlib"]),
        .target(name: "CryAdaptation", dependencies: ["CryModel", "CryTraining", "Features", "AudioIO", "ControlProtocol"]),
        // MQTT: libmosquitto for the daemon's publisher and `monitorctl rooms`.
        .target(name: "MQTTLink", dependencies: ["CMosquitto", "ThreadSupport"]),
        .target(name: "MonitorDaemon", dependencies: [
            "AudioIO", "Features", "CryModel", "CryDetector", "ControlProtocol", "FileSafety", "MQTTLink", "ThreadSupport",
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // What the three programs share: exit codes per interfaces.md.
        .target(name: "CommandLineSupport", dependencies: [
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Programs: thin over the libraries.
        .executableTarget(name: "crymodel", dependencies: [
            "CommandLineSupport",
            "AudioIO", "Features", "CryModel", "CryTraining", "CryDetector", "CryAdaptation",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "babymonitord", dependencies: [
            "CommandLineSupport",
            "MonitorDaemon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "monitorctl", dependencies: [
            "CommandLineSupport",
            "ControlProtocol",
            "NightReport",
            "MQTTLink",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "AudioIOTests", dependencies: ["AudioIO"]),
        .testTarget(name: "FeaturesTests", dependencies: ["Features", "AudioIO"]),
        .testTarget(name: "CryModelTests", dependencies: ["CryModel", "Features"]),
        .testTarget(name: "CryTrainingTests", dependencies: ["CryTraining", "CryModel", "AudioIO"]),
        .testTarget(name: "CryDetectorTests", dependencies: ["CryDetector", "CryModel", "Features"]),
        .testTarget(name: "CryAdaptationTests", dependencies: ["CryAdaptation", "CryModel", "Features", "AudioIO", "ControlProtocol"]),
        .testTarget(name: "MonitorDaemonTests", dependencies: ["MonitorDaemon", "ControlProtocol", "AudioIO", "CryModel", "NightReport", "FileSafety", "MQTTLink", "ThreadSupport"]),
        .testTarget(name: "NightReportTests", dependencies: ["NightReport", "ControlProtocol"]),
    ],
    swiftLanguageModes: [.v6]
)
