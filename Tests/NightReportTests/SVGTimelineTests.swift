import Testing
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import NightReport

/// Collects the elements of an SVG with their attributes.
final class SVGElements: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var texts: [String] = []
    private var inText = false

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append((name, attributes))
        if name == "text" { inText = true; texts.append("") }
    }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" { inText = false }
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inText { texts[texts.count - 1] += string }
    }

    static func parse(_ svg: String) -> SVGElements? {
        let p = XMLParser(data: Data(svg.utf8))
        let d = SVGElements()
        p.delegate = d
        return p.parse() ? d : nil
    }
}

@Suite struct SVGTimelineTests {
    @Test func oneBarPerEpisodeAtItsTime() throws {
        let night = NightBuilderTests.night().night()
        let clock = LocalClock.fixed(offsetSeconds: 3600)
        let svg = night.svg(clock: clock)
        let parsed = try #require(SVGElements.parse(svg), "the SVG is not well-formed XML")
        #expect(parsed.elements.first?.name == "svg")
        let bars = parsed.elements.filter { $0.attributes["class"]?.hasPrefix("episode") == true }
        #expect(bars.map { Int($0.attributes["data-episode"] ?? "") } == [1, 2, 3, 4, 5])
        let layout = Night.TimelineLayout()
        let laneWidth = layout.laneRight - layout.laneLeft
        let span = Double(night.until - night.since)
        for (bar, e) in zip(bars, night.episodes) {
            let x = try #require(Double(bar.attributes["x"] ?? ""))
            let expected = layout.laneLeft + Double(e.start - night.since) / span * laneWidth
            #expect(abs(x - expected) < 0.06, "episode \(e.number): x \(x), expected \(expected)")
            let width = try #require(Double(bar.attributes["width"] ?? ""))
            #expect(abs(width - max(5, e.durationSeconds * 1000 / span * laneWidth)) < 0.11)
        }
        // Episode 1 at 21:30 local, 1.5 h into the 12 h window.
        let x1: Double = Double(bars[0].attributes["x"] ?? "") ?? -1
        let expected1: Double = 30 + 660 * 1.5 / 12
        #expect(abs(x1 - expected1) < 0.06)
        // Colours by need; the labelled false alarm hatched and crossed out once.
        #expect(bars[0].attributes["fill"] == "#0072B2")   // tired
        #expect(bars[2].attributes["fill"] == "#E69F00")   // hungry
        #expect(bars[1].attributes["class"] == "episode false-alarm" && bars[1].attributes["fill"] == "url(#hatch-false)")
        #expect(parsed.elements.filter { $0.attributes["class"] == "false-alarm-mark" }.count == 1)
        // Gaps: the device loss, the killed run's unknown stretch, after the clean stop.
        let gaps = parsed.elements.filter { $0.attributes["class"] == "gap" }.compactMap { $0.attributes["data-kind"] }
        #expect(gaps == ["device", "unknown", "not_running"])
        // Hour ticks in local time, every hour of the 20:00 - 08:00 window, and the legend.
        let hours = parsed.texts.filter { $0.count == 2 && Int($0) != nil }
        #expect(hours == ["20", "21", "22", "23", "00", "01", "02", "03", "04", "05", "06", "07", "08"])
        for item in ["hungry", "tired", "belly pain", "discomfort", "burping", "labelled not-cry", "no microphone"] {
            #expect(parsed.texts.contains(item), "legend lacks \(item)")
        }
        #expect(parsed.texts.contains("Sun 6 Dec 20:00 – Mon 7 Dec 08:00"))
    }

    @Test func emptyNightStillDraws() throws {
        var log = TestLog()
        log.started(0)
        let svg = log.night(from: 0, to: 3600).svg(clock: .fixed(offsetSeconds: 0))
        let parsed = try #require(SVGElements.parse(svg))
        let bars = parsed.elements.filter { $0.attributes["class"]?.hasPrefix("episode") == true }
        #expect(bars.isEmpty)
        #expect(parsed.texts.contains("0 episodes · 0s crying"))
        // A short window gets quarter-hour ticks.
        #expect(parsed.texts.contains("19:15") && parsed.texts.contains("19:45"))
    }
}
