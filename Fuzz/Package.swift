// swift-tools-version:6.1
// libFuzzer targets for the wire format. Build with the fuzzer sanitizer (see README, "Fuzzing"):
//   swift build --package-path Fuzz -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import PackageDescription

let package = Package(
    name: "cancelq-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "cancelq", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "FuzzResponseDecoder", dependencies: ["FuzzDriver", .product(name: "ZeusAPI", package: "cancelq")]),
        .executableTarget(
            name: "FuzzRequestEncoder", dependencies: ["FuzzDriver", .product(name: "ZeusAPI", package: "cancelq")]),
    ],
    swiftLanguageModes: [.v6]
)
