import Testing
import ControlProtocol

@Suite struct ControlProtocolTests {
    @Test func requestsParse() throws {
        #expect(try ControlRequest.parse(line: "{\"cmd\":\"status\"}") == .status)
        #expect(try ControlRequest.parse(line: " {\"cmd\" : \"subscribe\"} ") == .subscribe)
        #expect(try ControlRequest.parse(line: "{\"cmd\":\"events\",\"limit\":5}") == .events(limit: 5))
        #expect(try ControlRequest.parse(line: "{\"cmd\":\"events\"}") == .events(limit: nil))
        for bad in ["", "{", "{\"cmd\":\"nope\"}", "{\"cmd\":\"events\",\"limit\":-1}", "{\"cmd\":\"events\",\"limit\":1.5}",
                    "\"status\"", "{\"cmd\":\"status\",\"extra\":true}", "{\"cmd\":\"status\"} x"] {
            #expect(throws: ControlProtocolError.self) { try ControlRequest.parse(line: bad) }
        }
        for r in [ControlRequest.status, .subscribe, .events(limit: 3)] {
            #expect(try ControlRequest.parse(line: String(r.line.dropLast())) == r)
        }
    }

    @Test func jsonRoundTripsAndFormats() throws {
        let text = #"{"a":[1,-2.5,true,false,null],"s":"q\"\\\n\u00e9\ud83d\ude00","e":1e3}"#
        let v = try JSONValue.parse(text)
        #expect(v["s"]?.stringValue == "q\"\\\né😀")
        #expect(v["e"]?.intValue == 1000)
        #expect(try JSONValue.parse(v.description) == v)
        #expect(JSONValue.fixed(4312.25, decimals: 3).description == "4312.250")
        #expect(JSONValue.fixed(-0.0004, decimals: 3).description == "0.000")
        #expect(JSONValue.fixed(0.70999997, decimals: 4).description == "0.7100")
        #expect(JSONValue.string("\u{01}").description == "\"\\u0001\"")
        for bad in ["01", "1.", "[1,]", "{\"a\"}", "\"\\x\"", "nul", "\"\u{01}\"", "[" + String(repeating: "[", count: 100)] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bad) }
        }
    }

    @Test func timestampsAreISO8601UTCMillis() {
        #expect(WallClock.iso8601(millis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(WallClock.iso8601(millis: 1_795_554_192_481) == "2026-11-24T21:03:12.481Z")
        #expect(WallClock.parseISO8601("2026-11-24T21:03:12.481Z") == 1_795_554_192_481)
        let now = WallClock.nowMillis()
        #expect(WallClock.parseISO8601(WallClock.iso8601(millis: now)) == now)
        #expect(WallClock.parseISO8601("2026-11-24 21:03:12Z") == nil)
    }

    @Test func statusRoundTrips() throws {
        var s = DaemonStatus()
        s.version = "0.1"; s.state = "cry"; s.currentEpisode = 7; s.droppedSamples = 12; s.causeModel = "cause.cry"
        s.lastNeed = .need(episode: 7, tAudio: 3, label: "tired", confidence: 0.5, probs: [("tired", 0.5)], final: false)
        let back = try DaemonStatus(json: try JSONValue.parse(s.json.description))
        #expect(back.state == "cry" && back.currentEpisode == 7 && back.droppedSamples == 12 && back.causeModel == "cause.cry")
        #expect(back.lastNeed?["label"]?.stringValue == "tired")
        #expect(back.detectorModel == nil)
    }
}
