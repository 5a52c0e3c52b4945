import Foundation

/// One self-contained HTML page: inline style, inline SVG, no script and nothing fetched,
/// so it opens from a mail attachment or a CI artifact as it is.
struct HTMLPage {
    var title: String
    var body: [String] = []

    init(title: String) {
        self.title = title
    }

    mutating func add(_ html: String) {
        body.append(html)
    }

    var html: String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1100px; color: #1d2329; padding: 0 16px; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #dde3e8; padding-bottom: 4px; }
        .muted { color: #66727d; } .good { color: #1e7b3a; } .bad { color: #b3261e; }
        .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
        .card { border: 1px solid #dde3e8; border-radius: 8px; padding: 10px 14px; min-width: 140px; }
        .card .n { font-size: 24px; font-weight: 600; } .card .l { color: #66727d; font-size: 12px; }
        table { border-collapse: collapse; width: 100%; font-size: 13px; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef1f4; vertical-align: top; }
        th { background: #f5f7f9; } code { font: 12px ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
        .tag { font-size: 11px; padding: 1px 6px; border-radius: 8px; background: #fdecea; color: #b3261e; } .tag.ignored { background: #eef1f4; color: #66727d; }
        </style></head><body>
        \(body.joined(separator: "\n"))
        </body></html>

        """
    }
}

/// Text made safe for HTML and SVG.
func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(character)
        }
    }
    return out
}

/// A row of summary figures.
func cards(_ items: [(value: String, label: String, style: String?)]) -> String {
    "<div class=\"cards\">" + items.map { item in
        "<div class=\"card\"><div class=\"n \(item.style ?? "")\">\(escape(item.value))</div><div class=\"l\">\(escape(item.label))</div></div>"
    }.joined() + "</div>"
}

/// Colours the charts use (and scripts/screenshots looks for in the rendered page).
enum ChartColor {
    static let difference = "#c0392b"
    static let ignored = "#95a5a6"
    static let clean = "#27ae60"
    static let flip = "#2c6fbb"
    static let backfill = "#8e44ad"
}
