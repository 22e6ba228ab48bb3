import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import CryTraining

@Suite struct ExperimentReportTests {
    /// UARs of three seeds: 0.2, 0.3, 0.4
    ///   mean 0.3; squared deviations 0.01, 0, 0.01 -> sum 0.02, / (3 - 1) = 0.01 -> sd 0.1
    @Test func seedSpreadOnHandMadeNumbers() {
        let s = SpreadStatistics([0.2, 0.3, 0.4])
        #expect(s.count == 3)
        #expect(abs(s.mean - 0.3) < 1e-12)
        #expect(abs(s.standardDeviation - 0.1) < 1e-12)
        #expect(s.minimum == 0.2 && s.maximum == 0.4)
        #expect(s.formatted(3) == "0.300 ± 0.100 (0.200-0.400)")
    }

    /// 1, 2, 3, 4: mean 2.5, squared deviations 2.25 0.25 0.25 2.25 = 5, /3 -> sd sqrt(5/3)
    @Test func sampleStandardDeviationDividesByNMinusOne() {
        let s = SpreadStatistics([1, 2, 3, 4])
        #expect(abs(s.mean - 2.5) < 1e-12)
        #expect(abs(s.standardDeviation - (5.0 / 3).squareRoot()) < 1e-12)
    }

    /// A class absent from one seed's test part (NaN) is left out, not counted as 0.
    @Test func missingValuesAreLeftOut() {
        let s = SpreadStatistics([0.5, .nan, 1.0])
        #expect(s.count == 2 && s.mean == 0.75)
        #expect(SpreadStatistics([0.42]).standardDeviation == 0)
        #expect(SpreadStatistics([0.42]).formatted(2) == "0.42")
        #expect(SpreadStatistics([]).formatted() == "n/a")
    }

    @Test func tickStepsAreOneTwoOrFiveTimesAPowerOfTen() {
        #expect(SVGLinePlot.tickStep(span: 1, target: 5) == 0.2)
        #expect(SVGLinePlot.tickStep(span: 39, target: 8) == 5)
        #expect(SVGLinePlot.tickStep(span: 100, target: 8) == 20)
    }

    private func samplePlot() -> SVGLinePlot {
        SVGLinePlot(title: "Validation UAR <per> epoch & seed", xLabel: "epoch", yLabel: "validation UAR",
                    series: [.init(name: "LSTM", values: [0.1, 0.25, 0.3]),
                             .init(name: "deepf_1 \"L=1\"", values: [0.2, .nan, 0.4, 0.35])],
                    references: [.init(label: "chance 0.20", y: 0.2)])
    }

    /// Elements and the text of every <text> element, as an XML parser sees them.
    final class Collector: NSObject, XMLParserDelegate {
        var elements: [String: Int] = [:]
        var texts: [String] = []
        var current = ""
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String] = [:]) {
            elements[name, default: 0] += 1
            current = ""
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "text" { texts.append(current) }
        }
    }

    @Test func svgIsWellFormedXMLWithOneLinePerSeriesAxesAndLegend() throws {
        let svg = samplePlot().render()
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = Collector()
        parser.delegate = collector
        #expect(parser.parse(), "XML error: \(String(describing: parser.parserError))")
        #expect(collector.elements["svg"] == 1)
        #expect(collector.elements["polyline"] == 2)
        // Escaped text comes back as written.
        #expect(collector.texts.contains("Validation UAR <per> epoch & seed"))
        #expect(collector.texts.contains("deepf_1 \"L=1\""))
        #expect(collector.texts.contains("epoch") && collector.texts.contains("validation UAR"))
        #expect(collector.texts.contains("chance 0.20"))
        // y ticks 0.0 ... 1.0 and x ticks from epoch 1 to 4.
        for tick in ["0.0", "0.2", "1.0", "1", "4"] { #expect(collector.texts.contains(tick), "tick \(tick)") }
    }

    /// The NaN epoch is skipped: the second polyline has 3 points, the first 3.
    @Test func polylinesSkipMissingEpochs() {
        let svg = samplePlot().render()
        let lines = svg.split(separator: "\n").filter { $0.hasPrefix("<polyline") }
        #expect(lines.count == 2)
        let counts = lines.map { line -> Int in
            let points = line.split(separator: "\"").drop { !$0.hasSuffix("points=") }.dropFirst().first ?? ""
            return points.split(separator: " ").count
        }
        #expect(counts == [3, 3])
        #expect(!svg.contains("nan"))
    }
}
