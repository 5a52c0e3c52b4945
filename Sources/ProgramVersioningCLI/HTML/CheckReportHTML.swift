import Foundation
import ProgramVersioningOps

/// `check --format html`: the summary, the differences per run over the stored history as an
/// inline SVG chart (real and ignored apart), and the findings grouped by kind, most severe
/// first, new ones marked.
enum CheckReportHTML {
    static let rowsPerKind = 200

    static func page(_ report: CheckReport) -> String {
        var page = HTMLPage(title: "Consistency check \(report.runID.uuidString.lowercased())")
        let verdict = report.isClean ? "clean" : "\(report.differenceCount) differences"
        page.add("<h1>Consistency check: <span class=\"\(report.isClean ? "good" : "bad")\">\(verdict)</span></h1>")
        page.add("<div class=\"muted\">run <code>\(report.runID.uuidString.lowercased())</code>, \(iso8601(report.startedAt)) to "
            + "\(iso8601(report.finishedAt)) · \(escape(CheckReportOutput.flagsLine(report)))"
            + (CheckReportOutput.sourceLine(report).map { " · " + escape($0) } ?? "") + "</div>")
        let new = report.newKeys
        page.add(cards([
            ("\(report.programsChecked)", "programs checked", nil),
            ("\(report.sessionsChecked)", "sessions checked", nil),
            ("\(report.differenceCount)", "differences", report.isClean ? "good" : "bad"),
            (report.comparison.map { "\($0.new.count)" } ?? "-", "new since the last run", (report.comparison?.new.isEmpty ?? true) ? nil : "bad"),
            (report.comparison.map { "\($0.fixed.count)" } ?? "-", "fixed since the last run", nil),
            ("\(report.ignoredCount)", "ignored (known, accepted)", nil),
        ]))
        if let line = CheckReportOutput.phaseFiveLine(report) { page.add("<p>\(escape(line))</p>") }
        if let line = CheckReportOutput.shadowLine(report) { page.add("<p>\(escape(line))</p>") }

        page.add("<h2>Differences per run</h2>")
        page.add(trendChart(report.trend))

        if !report.countsByKind.isEmpty || report.ignoredCount > 0 {
            let byKind = Dictionary(grouping: report.differences, by: \.kind)
            for kind in byKind.keys.sorted(by: { $0.severity < $1.severity }) {
                let findings = byKind[kind] ?? []
                let count = report.countsByKind[kind] ?? 0
                let ignored = findings.filter { $0.ignoredBecause != nil }.count
                page.add("<h2>\(kind.rawValue) <span class=\"muted\">\(count) difference\(count == 1 ? "" : "s")"
                    + (ignored > 0 ? " · \(ignored) ignored" : "") + "</span></h2>")
                page.add(findingsTable(findings.prefix(rowsPerKind), new: new))
                if findings.count > rowsPerKind {
                    page.add("<p class=\"muted\">\(findings.count - rowsPerKind) more of this kind in check_runs.findings.</p>")
                }
            }
            let listed = report.differences.count
            if report.differenceCount + report.ignoredCount > listed {
                page.add("<p class=\"muted\">\(report.differenceCount + report.ignoredCount - listed) findings beyond the first \(listed) are counted, not listed.</p>")
            }
        }
        if let fixed = report.comparison?.fixed, !fixed.isEmpty {
            page.add("<h2>Fixed since the last run <span class=\"muted\">\(fixed.count)</span></h2>")
            page.add("<ul>" + fixed.prefix(100).map { "<li><code>\(escape($0))</code></li>" }.joined() + "</ul>")
        }
        return page.html
    }

    private static func findingsTable(_ findings: ArraySlice<CheckDifference>, new: Set<String>) -> String {
        var rows = ["<table><tr><th></th><th>program</th><th>path</th><th>one side</th><th>other side</th></tr>"]
        for finding in findings {
            let labels = finding.kind.sideLabels
            let mark = finding.ignoredBecause.map { "<span class=\"tag ignored\" title=\"\(escape($0))\">ignored</span>" }
                ?? (new.contains(finding.key) ? "<span class=\"tag\">new</span>" : "")
            func side(_ label: String, _ value: String?) -> String {
                value.map { "<span class=\"muted\">\(escape(label))</span> <code>\(escape($0))</code>" } ?? ""
            }
            rows.append("<tr><td>\(mark)</td><td><code>\(escape(finding.programID?.uuidString.lowercased() ?? "-"))</code></td>"
                + "<td><code>\(escape(finding.path ?? "-"))</code></td><td>\(side(labels.legacy, finding.legacy))</td>"
                + "<td>\(side(labels.versioned, finding.versioned))</td></tr>")
        }
        rows.append("</table>")
        return rows.joined(separator: "\n")
    }

    /// Stacked bars, one per run: real differences (red), ignored ones (grey); a clean run
    /// with nothing ignored is a short green bar, so it shows.
    static func trendChart(_ points: [CheckTrendPoint]) -> String {
        let width = 1000.0, height = 220.0, top = 24.0, bottom = 36.0, left = 8.0
        let plot = height - top - bottom
        let peak = Double(max(points.map { $0.differenceCount + $0.ignoredCount }.max() ?? 1, 1))
        let slot = (width - left * 2) / Double(max(points.count, 1))
        let bar = min(48, slot * 0.7)
        var svg = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"differences per run\">"]
        svg.append("<line x1=\"\(left)\" y1=\"\(top + plot)\" x2=\"\(width - left)\" y2=\"\(top + plot)\" stroke=\"#c9d1d8\"/>")
        let formatter = DateFormatter()
        formatter.dateFormat = "MM-dd HH:mm"
        formatter.timeZone = TimeZone(identifier: "UTC")
        for (index, point) in points.enumerated() {
            let x = left + Double(index) * slot + (slot - bar) / 2
            let real = Double(point.differenceCount) / peak * plot
            let ignored = Double(point.ignoredCount) / peak * plot
            var y = top + plot
            if point.differenceCount == 0 && point.ignoredCount == 0 {
                svg.append(rect(x, y - 4, bar, 4, ChartColor.clean))
            }
            if real > 0 { y -= max(real, 2); svg.append(rect(x, y, bar, max(real, 2), ChartColor.difference)) }
            if ignored > 0 { y -= max(ignored, 2); svg.append(rect(x, y, bar, max(ignored, 2), ChartColor.ignored)) }
            let label = point.ignoredCount > 0 ? "\(point.differenceCount) (+\(point.ignoredCount))" : "\(point.differenceCount)"
            svg.append("<text x=\"\(x + bar / 2)\" y=\"\(y - 5)\" font-size=\"11\" text-anchor=\"middle\" fill=\"#1d2329\">\(label)</text>")
            svg.append("<text x=\"\(x + bar / 2)\" y=\"\(height - 18)\" font-size=\"10\" text-anchor=\"middle\" fill=\"#66727d\">\(formatter.string(from: point.finishedAt))</text>")
        }
        svg.append("<text x=\"\(left)\" y=\"\(height - 3)\" font-size=\"11\" fill=\"#66727d\">"
            + "<tspan fill=\"\(ChartColor.difference)\">■</tspan> differences  <tspan fill=\"\(ChartColor.ignored)\">■</tspan> ignored (known, accepted)  "
            + "<tspan fill=\"\(ChartColor.clean)\">■</tspan> clean run · this run is the last bar</text>")
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    static func rect(_ x: Double, _ y: Double, _ width: Double, _ height: Double, _ color: String) -> String {
        String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"/>", x, y, width, height, color)
    }
}
