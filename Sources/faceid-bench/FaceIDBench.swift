import ArgumentParser

@main
struct FaceIDBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faceid-bench",
        abstract: "faceid benchmarks: JSON lines on stdout, a Markdown table at the end, progress on stderr.",
        subcommands: [ANNBenchmark.self, AccuracyBenchmark.self, LoadBenchmark.self, SyncBenchmark.self]
    )
}
