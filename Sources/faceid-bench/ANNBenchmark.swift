import ArgumentParser
import VectorIndex

struct ANNBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ann", abstract: "Vector index benchmark on .fvecs data.")
    func run() async throws {}
}
