/// A strict parser for the part of TOML that babymonitor's configuration uses, in place of
/// TOMLKit (toml++), whose assert()s abort the process on some malformed inputs and which
/// leaks per parse. A malformed config must never crash the daemon, so this works on raw
/// bytes (invalid UTF-8 included), reads them only through bounds-checked `peek`, and answers
/// every problem with a `TOMLSubsetError` carrying its line and column.
///
/// Supported: comments, blank lines, `[section]` headers and `key = value` lines with bare
/// keys ([A-Za-z0-9_-]+), values: basic strings "..." (escapes \b \t \n \f \r \" \\ \uXXXX
/// \UXXXXXXXX), literal strings '...', decimal integers (sign, underscores between digits,
/// overflow refused), decimal floats (fraction and/or exponent; inf and nan as TOML has them),
/// true and false. Valid TOML beyond that (arrays, inline tables, dotted or quoted keys,
/// multi-line strings, dates, [[array of tables]], hex/octal/binary integers) is refused as
/// "not supported by babymonitor's config".
enum TOMLSubsetValue: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)

    /// "integer 3", "string \"x\"": for errors about a value of the wrong type.
    var typeAndValue: String {
        switch self {
        case .string(let s): return "string \"\(s)\""
        case .integer(let n): return "integer \(n)"
        case .float(let x): return "float \(x)"
        case .boolean(let b): return "boolean \(b)"
        }
    }
}

struct TOMLSubsetError: Error, Equatable, CustomStringConvertible {
    var line: Int
    var column: Int
    var problem: String
    var description: String { "\(line):\(column): \(problem)" }
}

struct TOMLSubsetDocument: Equatable, Sendable {
    struct Entry: Equatable, Sendable {
        var key: String
        var value: TOMLSubsetValue
        var line: Int
    }

    struct Section: Equatable, Sendable {
        var name: String
        var line: Int
        var entries: [Entry] = []

        var keys: [String] { entries.map(\.key) }
        subscript(key: String) -> TOMLSubsetValue? { entries.first { $0.key == key }?.value }
    }

    /// Key/value lines before the first section header.
    var rootEntries: [Entry] = []
    var sections: [Section] = []

    func section(_ name: String) -> Section? { sections.first { $0.name == name } }

    static func parse(_ text: String) throws(TOMLSubsetError) -> TOMLSubsetDocument {
        try parse(bytes: Array(text.utf8))
    }

    static func parse(bytes: [UInt8]) throws(TOMLSubsetError) -> TOMLSubsetDocument {
        var parser = TOMLSubsetParser(bytes: bytes)
        return try parser.document()
    }
}

private let unsupported = "not supported by babymonitor's config"

private struct TOMLSubsetParser {
    let bytes: [UInt8]
    var i = 0
    var line = 1
    var lineStart = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3; lineStart = 3 }  // UTF-8 byte order mark
    }

    // MARK: reading

    func peek(_ offset: Int = 0) -> UInt8? {
        let j = i + offset
        return j >= 0 && j < bytes.count ? bytes[j] : nil
    }

    /// 1-based column in characters: UTF-8 lead bytes (not continuation bytes) since the line start.
    func column(at position: Int) -> Int {
        var n = 1
        var j = lineStart
        while j < position && j < bytes.count {
            if bytes[j] & 0xC0 != 0x80 { n += 1 }
            j += 1
        }
        return n
    }

    func fail(_ problem: String, at position: Int? = nil) -> TOMLSubsetError {
        TOMLSubsetError(line: line, column: column(at: position ?? i), problem: problem)
    }

    static func isBareKeyByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }

    /// "'x'" for printable ASCII, "byte 0xNN" otherwise.
    static func describe(_ b: UInt8?) -> String {
        guard let b else { return "end of file" }
        switch b {
        case UInt8(ascii: "\n"): return "end of line"
        case 0x21...0x7E: return "'\(Character(Unicode.Scalar(b)))'"
        case 0x20: return "a space"
        default:
            let hex = String(b, radix: 16, uppercase: true)
            return "byte 0x\(hex.count < 2 ? "0" + hex : hex)"
        }
    }

    mutating func skipBlanks() {
        while let b = peek(), b == 0x20 || b == 0x09 { i += 1 }
    }

    /// Length of the valid UTF-8 sequence starting at `i` (lead byte >= 0x80), nil if invalid.
    func utf8SequenceLength() -> Int? {
        guard let lead = peek() else { return nil }
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF  // allowed range of the second byte
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F  // no UTF-16 surrogates
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F  // nothing past U+10FFFF
        default: return nil
        }
        for k in 1..<length {
            guard let b = peek(k) else { return nil }
            let (lo, hi) = k == 1 ? (low, high) : (0x80, 0xBF)
            guard b >= lo && b <= hi else { return nil }
        }
        return length
    }

    /// Consumes the end of a line: optional blanks, an optional comment, then "\n", "\r\n"
    /// or the end of the file. `after` names what came before, for the error.
    mutating func endOfLine(after: String) throws(TOMLSubsetError) {
        skipBlanks()
        if peek() == UInt8(ascii: "#") {
            i += 1
            while let b = peek(), b != UInt8(ascii: "\n") {
                if b == 0x0D && peek(1) == UInt8(ascii: "\n") { break }
                if (b < 0x20 && b != 0x09) || b == 0x7F {
                    throw fail("control character \(Self.describe(b)) in a comment")
                }
                if b >= 0x80 {
                    guard let n = utf8SequenceLength() else { throw fail("invalid UTF-8 (\(Self.describe(b))) in a comment") }
                    i += n
                } else {
                    i += 1
                }
            }
        }
        switch peek() {
        case nil:
            return
        case UInt8(ascii: "\n"):
            i += 1
        case 0x0D where peek(1) == UInt8(ascii: "\n"):
            i += 2
        case let b:
            throw fail("expected the end of the line after \(after), found \(Self.describe(b))")
        }
        line += 1
        lineStart = i
    }

    // MARK: grammar

    mutating func document() throws(TOMLSubsetError) -> TOMLSubsetDocument {
        var doc = TOMLSubsetDocument()
        var rootKeys: [String: Int] = [:]      // key -> line
        var sectionLines: [String: Int] = [:]  // section -> line of its header
        var currentKeys: [String: Int] = [:]
        var inSection = false

        while i < bytes.count {
            skipBlanks()
            guard let b = peek() else { break }
            switch b {
            case UInt8(ascii: "#"), UInt8(ascii: "\n"), 0x0D:
                try endOfLine(after: "a blank line")
            case UInt8(ascii: "["):
                let headerLine = line
                let name = try sectionHeader()
                if let first = sectionLines[name] {
                    throw TOMLSubsetError(line: headerLine, column: 1, problem: "duplicate section [\(name)] (first at line \(first))")
                }
                if let first = rootKeys[name] {
                    throw TOMLSubsetError(line: headerLine, column: 1,
                                          problem: "section [\(name)] redefines the key \(name) (line \(first))")
                }
                sectionLines[name] = headerLine
                doc.sections.append(.init(name: name, line: headerLine))
                currentKeys = [:]
                inSection = true
                try endOfLine(after: "the section header [\(name)]")
            default:
                let entryLine = line
                let keyStart = i
                let (key, value) = try keyValue()
                if let first = (inSection ? currentKeys : rootKeys)[key] {
                    throw fail("duplicate key \(key) (first at line \(first))", at: keyStart)
                }
                let entry = TOMLSubsetDocument.Entry(key: key, value: value, line: entryLine)
                if inSection, let last = doc.sections.indices.last {
                    currentKeys[key] = entryLine
                    doc.sections[last].entries.append(entry)
                } else {
                    rootKeys[key] = entryLine
                    doc.rootEntries.append(entry)
                }
                try endOfLine(after: "the value of \(key)")
            }
        }
        return doc
    }

    /// `[name]`, at "[".
    mutating func sectionHeader() throws(TOMLSubsetError) -> String {
        i += 1
        if peek() == UInt8(ascii: "[") { throw fail("arrays of tables ([[...]]) are \(unsupported)") }
        skipBlanks()
        let name = try bareKey(what: "a section name")
        skipBlanks()
        switch peek() {
        case UInt8(ascii: "]"):
            i += 1
            return name
        case UInt8(ascii: "."):
            throw fail("dotted section names ([\(name).x]) are \(unsupported)")
        case let b:
            throw fail("expected ']' after the section name \(name), found \(Self.describe(b))")
        }
    }

    /// A bare key ([A-Za-z0-9_-]+).
    mutating func bareKey(what: String) throws(TOMLSubsetError) -> String {
        let start = i
        while let b = peek(), Self.isBareKeyByte(b) { i += 1 }
        if i == start {
            let b = peek()
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") {
                throw fail("quoted keys are \(unsupported); use a bare key (letters, digits, _ and -)")
            }
            throw fail("expected \(what) (letters, digits, _ and -), found \(Self.describe(b))")
        }
        // ASCII only, so this decoding is exact.
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    /// `key = value`, at the key's first byte.
    mutating func keyValue() throws(TOMLSubsetError) -> (String, TOMLSubsetValue) {
        let key = try bareKey(what: "a key or a [section] header")
        skipBlanks()
        switch peek() {
        case UInt8(ascii: "="):
            i += 1
        case UInt8(ascii: "."):
            throw fail("dotted keys (\(key).x) are \(unsupported)")
        case let b:
            throw fail("expected '=' after the key \(key), found \(Self.describe(b))")
        }
        skipBlanks()
        return (key, try value(for: key))
    }

    mutating func value(for key: String) throws(TOMLSubsetError) -> TOMLSubsetValue {
        guard let b = peek() else { throw fail("expected a value for \(key), found end of file") }
        switch b {
        case UInt8(ascii: "\""):
            if peek(1) == UInt8(ascii: "\"") && peek(2) == UInt8(ascii: "\"") {
                throw fail("multi-line strings (\"\"\") are \(unsupported)")
            }
            return .string(try quotedString(literal: false))
        case UInt8(ascii: "'"):
            if peek(1) == UInt8(ascii: "'") && peek(2) == UInt8(ascii: "'") {
                throw fail("multi-line strings (''') are \(unsupported)")
            }
            return .string(try quotedString(literal: true))
        case UInt8(ascii: "["):
            throw fail("arrays are \(unsupported)")
        case UInt8(ascii: "{"):
            throw fail("inline tables are \(unsupported)")
        case UInt8(ascii: "\n"), 0x0D, UInt8(ascii: "#"):
            throw fail("expected a value for \(key) after '='")
        default:
            return try bareValue(for: key)
        }
    }

    /// Appends the UTF-8 sequence at `i` (validated) to `out`.
    mutating func copyNonASCII(into out: inout [UInt8], context: String) throws(TOMLSubsetError) {
        guard let n = utf8SequenceLength() else {
            throw fail("invalid UTF-8 (\(Self.describe(peek()))) in \(context)")
        }
        for _ in 0..<n {
            if let b = peek() { out.append(b) }
            i += 1
        }
    }

    /// "..." (basic: backslash escapes) or '...' (literal: none), at the opening quote.
    mutating func quotedString(literal: Bool) throws(TOMLSubsetError) -> String {
        let open = i
        let quote = literal ? UInt8(ascii: "'") : UInt8(ascii: "\"")
        i += 1
        var out: [UInt8] = []
        while true {
            guard let b = peek() else { throw fail("unterminated string (opened at column \(column(at: open)))") }
            switch b {
            case quote:
                i += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\") where !literal:
                try escape(into: &out)
            case UInt8(ascii: "\n"), 0x0D:
                throw fail("unterminated string (opened at column \(column(at: open)))")
            case 0x09:
                out.append(b); i += 1
            case 0x00..<0x20, 0x7F:
                throw fail(literal
                    ? "control character \(Self.describe(b)) in a literal string"
                    : "control character \(Self.describe(b)) in a string; write it as an escape (\\t, \\n, \\uXXXX)")
            case 0x80...:
                try copyNonASCII(into: &out, context: "a string")
            default:
                out.append(b); i += 1
            }
        }
    }

    /// A backslash escape in a basic string, at the backslash.
    mutating func escape(into out: inout [UInt8]) throws(TOMLSubsetError) {
        let start = i
        i += 1
        guard let e = peek() else { throw fail("unterminated string") }
        i += 1
        let simple: UInt8?
        switch e {
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "\""): simple = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): simple = UInt8(ascii: "\\")
        case UInt8(ascii: "u"), UInt8(ascii: "U"): simple = nil
        default:
            throw fail("invalid escape \\\(Self.describe(e).trimmingQuotes) in a string (valid: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)", at: start)
        }
        if let simple { out.append(simple); return }
        let digits = e == UInt8(ascii: "u") ? 4 : 8
        var scalarValue: UInt32 = 0
        for _ in 0..<digits {
            guard let h = peek(), let d = Self.hexDigit(h) else {
                throw fail("\\\(Character(Unicode.Scalar(e))) needs \(digits) hexadecimal digits", at: start)
            }
            scalarValue = scalarValue << 4 | d
            i += 1
        }
        guard let scalar = Unicode.Scalar(scalarValue) else {
            throw fail("\\\(Character(Unicode.Scalar(e))) escape is not a Unicode scalar value (a surrogate or past U+10FFFF)", at: start)
        }
        out.append(contentsOf: Array(String(Character(scalar)).utf8))
    }

    static func hexDigit(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// true, false, an integer or a float: the bytes up to a blank, a comment or the line end.
    mutating func bareValue(for key: String) throws(TOMLSubsetError) -> TOMLSubsetValue {
        let start = i
        while let b = peek(), b != 0x20, b != 0x09, b != UInt8(ascii: "#"), b != UInt8(ascii: "\n"), b != 0x0D {
            if b >= 0x80 || b < 0x20 || b == 0x7F {
                throw fail("unexpected \(Self.describe(b)) in the value of \(key); strings need quotes")
            }
            i += 1
        }
        let token = Array(bytes[start..<i])
        let text = String(decoding: token, as: UTF8.self)  // ASCII, checked above
        func bad(_ problem: String) -> TOMLSubsetError { fail(problem, at: start) }

        switch text {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        var body = token[...]
        if let s = body.first, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { body = body.dropFirst() }
        guard let first = body.first, first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") else {
            throw bad("expected a value for \(key) (a \"string\", a number, true or false), found \(text)")
        }
        if body.count >= 2, first == UInt8(ascii: "0"),
           let p = body.dropFirst().first, p == UInt8(ascii: "x") || p == UInt8(ascii: "o") || p == UInt8(ascii: "b") {
            throw bad("hexadecimal, octal and binary integers are \(unsupported); write \(text) in decimal")
        }
        if body.contains(UInt8(ascii: ":"))
            || (body.count >= 5 && body.prefix(4).allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                && body[body.startIndex + 4] == UInt8(ascii: "-")) {
            throw bad("dates and times are \(unsupported)")
        }

        // decimal = digit ("_"? digit)* ; integer = sign? ("0" | [1-9] ("_"? digit)*)
        // float = sign? integer-part ("." decimal)? ([eE] sign? decimal)?, with a fraction or an exponent
        var j = body.startIndex
        func scanDigits(_ part: String) throws(TOMLSubsetError) -> Int {
            let begin = j
            var previousUnderscore = false
            while j < body.endIndex {
                let b = body[j]
                if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                    previousUnderscore = false
                } else if b == UInt8(ascii: "_") {
                    if j == begin || previousUnderscore { throw bad("\(text): an underscore must stand between two digits") }
                    previousUnderscore = true
                } else {
                    break
                }
                j += 1
            }
            if previousUnderscore { throw bad("\(text): an underscore must stand between two digits") }
            if j == begin { throw bad("\(text): expected digits in the \(part)") }
            return j - begin
        }
        let integerDigits = try scanDigits("number")
        if integerDigits > 1 && first == UInt8(ascii: "0") { throw bad("\(text): leading zeros are not allowed") }
        var isFloat = false
        if j < body.endIndex, body[j] == UInt8(ascii: ".") {
            j += 1
            isFloat = true
            _ = try scanDigits("fraction")
        }
        if j < body.endIndex, body[j] == UInt8(ascii: "e") || body[j] == UInt8(ascii: "E") {
            j += 1
            isFloat = true
            if j < body.endIndex, body[j] == UInt8(ascii: "+") || body[j] == UInt8(ascii: "-") { j += 1 }
            _ = try scanDigits("exponent")
        }
        if j != body.endIndex {
            throw bad("expected a value for \(key) (a \"string\", a number, true or false), found \(text)")
        }
        let plain = String(decoding: token.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        if isFloat {
            guard let x = Double(plain), x.isFinite else { throw bad("\(text): the float is out of range") }
            return .float(x)
        }
        guard let n = Int(plain) else {
            throw bad("\(text): the integer is out of range \(Int.min)...\(Int.max)")
        }
        return .integer(n)
    }
}

private extension String {
    /// "'x'" -> "x", for quoting a byte inside an escape in a message.
    var trimmingQuotes: String {
        count == 3 && hasPrefix("'") && hasSuffix("'") ? String(dropFirst().dropLast()) : self
    }
}
