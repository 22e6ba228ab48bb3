import ArgumentParser
import AudioIO
import Features
#if canImport(Glibc)
import Glibc
#endif

/// `crymodel features FILE.wav`: the frame-level features the models are fed, one row per
/// frame, `t` = frame start time in seconds.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Print the frame-level features (16 LLDs + 16 deltas) of a WAV file.",
        discussion: """
            The file is mixed to mono and resampled to the analysis rate. TSV: a header row \
            `t` + the 32 feature names, then one row per frame. JSON: \
            {"sample_rate":..,"columns":["t",...],"frames":[[t,...],...]}.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case tsv, json
    }

    @Argument(help: "WAV file (any PCM or float format, any channel count, any rate).")
    var file: String

    @Option(help: "Output format: tsv or json.")
    var format: Format = .tsv

    @Option(name: .customLong("sample-rate"), help: "Analysis sample rate in Hz (the shipped models use 8000).")
    var sampleRate: Int = 8000

    func run() throws {
        let config = FrontEndConfig(sampleRate: sampleRate)
        do {
            try config.validate()
        } catch {
            throw fail("--sample-rate \(sampleRate): \(error.problem)", code: SysExit.usage)
        }
        guard access(file, R_OK) == 0 else {
            throw fail("\(file): cannot open: \(String(cString: strerror(errno)))", code: SysExit.ioError)
        }
        let audio: AudioBuffer
        do {
            audio = try WAVReader.read(path: file, sampleRate: sampleRate)
        } catch let error as AudioFileError {
            throw fail(error.description, code: SysExit.dataError)
        } catch {
            throw fail("\(file): \(error)", code: SysExit.dataError)
        }

        var out = StdoutWriter()
        let names = config.featureNames
        switch format {
        case .tsv:
            out.write((["t"] + names).joined(separator: "\t"))
            out.write("\n")
        case .json:
            out.write("{\"sample_rate\":\(sampleRate),\"columns\":[")
            out.write((["t"] + names).map { "\"\($0)\"" }.joined(separator: ","))
            out.write("],\"frames\":[")
        }

        let extractor = FeatureExtractor(config: config)
        let format = self.format
        func writeRow(_ n: Int, _ row: UnsafeBufferPointer<Float>) {
            let t = config.frameStartTime(n)
            switch format {
            case .tsv:
                out.write("\(t)")
                for v in row { out.write("\t\(v)") }
                out.write("\n")
            case .json:
                out.write(n == 0 ? "[\(t)" : ",\n[\(t)")
                // JSON has no NaN/inf; the front end produces none, but never emit invalid JSON.
                for v in row { out.write(v.isFinite ? ",\(v)" : ",null") }
                out.write("]")
            }
        }
        extractor.process(audio.samples, emit: writeRow)
        extractor.finish(emit: writeRow)
        if format == .json { out.write("]}\n") }
        out.flush()
        if let problem = out.failure {
            throw fail("writing features: \(problem)", code: SysExit.ioError)
        }
    }
}

/// Buffered writes to fd 1, so that an hour of frames is not a million write(2) calls.
struct StdoutWriter {
    private var buffer: [UInt8] = []
    private(set) var failure: String?

    init() { buffer.reserveCapacity(1 << 16) }

    mutating func write(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        guard failure == nil else { buffer.removeAll(keepingCapacity: true); return }
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno))
                break
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
