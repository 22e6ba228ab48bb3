#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FileSafety

/// Reads a WAV file block by block, mixed to mono, for recordings too long to hold in
/// memory (a night is ~1 GB of 16 kHz PCM16) and for replaying a file as a live stream.
/// Accepts and rejects exactly what `WAVReader` does; not thread-safe.
public final class WAVStreamReader {
    public let path: String
    public let sampleRate: Int
    public let channels: Int
    /// Frames (mono samples after mixing) in the file, and how many were read so far.
    public let frameCount: Int
    public private(set) var position = 0

    private let layout: WAVLayout
    private var fd: Int32
    /// Staging for raw frames, reused by every read.
    private let staging: UnsafeMutableRawBufferPointer

    public init(path: String) throws {
        self.path = path
        // Never blocks in open(2) (a FIFO without a writer would hang start-up beyond the
        // reach of SIGTERM); FIFOs, devices and directories are refused: the reader seeks.
        let size: Int
        do { (fd, size) = try SafeFile.openRegularForReading(path, what: "WAV file") } catch {
            throw AudioFileError(path: path, problem: error.problem)
        }
        do {
            let descriptor = fd
            layout = try WAVLayout(fileSize: size, path: path) { offset, count in
                try Self.readExactly(descriptor, offset: offset, count: count, path: path)
            }
        } catch {
            _ = close(fd)
            throw error
        }
        sampleRate = layout.sampleRate
        channels = layout.channels
        frameCount = layout.frameCount
        // Up to 4096 frames or 1 MiB, whichever is smaller (but always one whole frame).
        let stagedFrames = max(1, min(4096, (1 << 20) / layout.blockAlign))
        staging = .allocate(byteCount: stagedFrames * layout.blockAlign, alignment: 8)
    }

    deinit {
        _ = close(fd)
        staging.deallocate()
    }

    /// Fills `output` with the next mono samples; returns how many (0 at the end of the data).
    public func read(into output: UnsafeMutableBufferPointer<Float>) throws -> Int {
        var filled = 0
        while filled < output.count && position < frameCount {
            let frames = min(output.count - filled, frameCount - position, staging.count / layout.blockAlign)
            let raw = UnsafeMutableRawBufferPointer(rebasing: staging[0..<(frames * layout.blockAlign)])
            try Self.readExactly(fd, offset: layout.dataOffset + position * layout.blockAlign, into: raw, path: path)
            let out = UnsafeMutableBufferPointer(rebasing: output[filled..<(filled + frames)])
            try WAVReader.mixToMono(UnsafeRawBufferPointer(raw), layout: layout, firstFrame: position, into: out, path: path)
            filled += frames
            position += frames
        }
        return filled
    }

    /// Goes back to the first frame.
    public func rewind() { position = 0 }

    private static func readExactly(_ fd: Int32, offset: Int, into buffer: UnsafeMutableRawBufferPointer, path: String) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw AudioFileError(path: path, problem: "read failed: \(FileBytes.errnoText(errno))")
            }
            if n == 0 {
                throw AudioFileError(path: path, problem: "file shrank while being read (ends at byte \(offset + done))")
            }
            done += n
        }
    }

    private static func readExactly(_ fd: Int32, offset: Int, count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try readExactly(fd, offset: offset, into: $0, path: path) }
        return bytes
    }
}
