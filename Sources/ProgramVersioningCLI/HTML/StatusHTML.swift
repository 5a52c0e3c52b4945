import Foundation
import ProgramVersioningOps
import RuntimeFlags

/// `status --format html`: where the rollout stands, and its timeline (flips, backfills,
/// checks) drawn as inline SVG.
enum StatusHTML {
    static func page(_ status: RolloutStatus, timeline: RolloutTimeline) -> String {
        var page = HTMLPage(title: "Rollout status: phase \(status.phase)")
        page.add("<h1>Rollout: phase \(escape(RolloutPhase.describe(status.phase)))</h1>")
        page.add("<div class=\"muted\">read \(iso8601(status.readAt))</div>")
        let next = status.nextStep
        let nextText = next.allowed
            ? "<span class=\"good\">allowed:</span> <code>\(escape(next.command ?? ""))</code>"
            : "<span class=\"bad\">not yet:</span> \(escape(next.reason ?? ""))" + (next.then.map { " · run <code>\(escape($0))</code>" } ?? "")
        page.add("<p><b>Next step</b> \(nextText)</p>")

        let reads = status.flag(.reads)
        let consistency = status.shadowReads?.consistencyPercent.map { String(format: "%.2f %%", $0) } ?? "-"
        page.add(cards([
            ("\(status.phase)", "phase", nil),
            (reads?.enabled == true ? "\(reads?.percent ?? 0) %" : "off", "READS", nil),
            (status.lastCheck.map { ageText($0.age) } ?? "none", "since the last check", status.lastCheck?.clean == false ? "bad" : nil),
            (status.lastCheck.map { $0.clean ? "clean" : "\($0.differenceCount) differences" } ?? "-", "last check",
             status.lastCheck.map { $0.clean ? "good" : "bad" }),
            (consistency, "shadow-read consistency (1 h)", nil),
            ("\(status.followers.count)", "app connections following the flags", nil),
        ]))

        page.add("<h2>Timeline</h2>")
        page.add(timelineChart(timeline, now: status.readAt))

        page.add("<h2>Flags</h2><table><tr><th>flag</th><th>state</th><th>since</th><th>by</th><th>max check age</th></tr>")
        for flag in status.flags {
            let state = flag.enabled ? (flag.name == .reads ? "on, \(flag.percent) %" : "on") : "off"
            page.add("<tr><td><code>\(flag.name.rawValue)</code></td><td>\(state)</td><td>\(iso8601(flag.updatedAt))</td>"
                + "<td>\(escape(flag.updatedBy))</td><td>\(ageText(flag.maxCheckAge))</td></tr>")
        }
        page.add("</table>")
        for gate in status.evidence.gates {
            page.add("<p>Gate of <code>\(gate.flag.rawValue)</code>: "
                + (gate.missing.map { "<span class=\"bad\">closed</span>: \(escape($0))" } ?? "<span class=\"good\">open</span>") + "</p>")
        }
        if let check = status.lastCheck {
            page.add("<p>Last check \(iso8601(check.finishedAt)) by \(escape(check.recordedBy ?? "?")): "
                + (check.notEvidenceBecause.map { "not evidence: \(escape($0))" } ?? "counts as evidence") + "</p>")
        }

        page.add("<h2>Backfill runs</h2><table><tr><th>kind</th><th>state</th><th>started</th><th>finished</th><th>seen</th><th>reported</th></tr>")
        for run in status.backfill.runs {
            page.add("<tr><td>\(run.kind.rawValue)</td><td>\(run.state.rawValue)</td><td>\(iso8601(run.startedAt))</td>"
                + "<td>\(run.finishedAt.map(iso8601) ?? "")</td><td>\(run.seen)</td><td>\(run.reported)</td></tr>")
        }
        page.add("</table>")

        page.add("<h2>Shadow reads, last hour</h2>")
        page.add("<p>" + escape(StatusText(status).lines.first { $0.hasPrefix("shadow") }?.dropFirst(11).description ?? "") + "</p>")
        return page.html
    }

    /// Three lanes, one column per event in time order (a rollout's events come in bursts
    /// days apart: a time-proportional axis would pile them up): flips (blue, red when
    /// forced), backfills (purple, red when failed), checks (green clean, red with differences).
    static func timelineChart(_ timeline: RolloutTimeline, now: Date, columns: Int = 36) -> String {
        let events = Array(timeline.events.suffix(columns))
        let width = 1000.0, left = 90.0, right = 10.0, laneHeight = 50.0, top = 16.0
        let height = top + laneHeight * 3 + 34
        let slot = (width - left - right) / Double(max(events.count, 1))
        var svg = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"rollout timeline\">"]
        func laneY(_ lane: RolloutTimeline.Lane) -> Double {
            top + Double(RolloutTimeline.Lane.allCases.firstIndex(of: lane) ?? 0) * laneHeight + laneHeight / 2
        }
        for lane in RolloutTimeline.Lane.allCases {
            let y = laneY(lane)
            svg.append("<text x=\"4\" y=\"\(y + 4)\" font-size=\"12\" fill=\"#66727d\">\(lane.rawValue)</text>")
            svg.append("<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(width - right)\" y2=\"\(y)\" stroke=\"#e3e8ec\"/>")
        }
        let formatter = DateFormatter()
        formatter.dateFormat = "MM-dd HH:mm"
        formatter.timeZone = TimeZone(identifier: "UTC")
        var lastDay = ""
        for (index, event) in events.enumerated() {
            let center = left + (Double(index) + 0.5) * slot
            let y = laneY(event.lane)
            let bad = ChartColor.difference
            switch event.lane {
            case .flags:
                svg.append("<circle cx=\"\(center)\" cy=\"\(y)\" r=\"7\" fill=\"\(event.ok ? ChartColor.flip : bad)\"/>")
            case .backfills:
                svg.append(CheckReportHTML.rect(center - slot * 0.4, y - 7, slot * 0.8, 14, event.ok ? ChartColor.backfill : bad))
            case .checks:
                svg.append("<circle cx=\"\(center)\" cy=\"\(y)\" r=\"7\" fill=\"\(event.ok ? ChartColor.clean : bad)\"/>")
            }
            let label = event.shortLabel
            svg.append("<text x=\"\(center)\" y=\"\(index % 2 == 0 ? y - 12 : y + 21)\" font-size=\"10\" text-anchor=\"middle\" fill=\"#1d2329\">"
                + "<title>\(escape(event.label))</title>\(escape(label))</text>")
            // The time under each column; the day only when it changes.
            let stamp = formatter.string(from: event.start)
            let day = String(stamp.prefix(5)), time = String(stamp.suffix(5))
            svg.append("<text x=\"\(center)\" y=\"\(height - 18)\" font-size=\"9\" text-anchor=\"middle\" fill=\"#66727d\">\(time)</text>")
            if day != lastDay {
                svg.append("<text x=\"\(center)\" y=\"\(height - 6)\" font-size=\"9\" text-anchor=\"middle\" fill=\"#66727d\">\(day)</text>")
                lastDay = day
            }
        }
        if timeline.events.count > events.count {
            svg.append("<text x=\"4\" y=\"\(height - 6)\" font-size=\"9\" fill=\"#66727d\">last \(events.count) of \(timeline.events.count)</text>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }
}
