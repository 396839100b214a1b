//! The shareable rendering of a [`Summary`]: one HTML page with inline CSS and inline
//! SVG bar charts; no scripts, fonts or images from anywhere else, so it opens the same
//! offline, in a mail attachment or a ticket. Every value from the data is escaped.

use std::fmt::Write as _;

use super::{
    format_ts, more_note, percent, Counts, PqRow, Readiness, Share, Summary, EXPIRY_WINDOW_DAYS,
};
use crate::findings::describe;

/// Bar colour of the distributions (versions, ciphers, SNIs, JA4s, validation).
pub const BAR_COLOUR: &str = "#2563eb";
/// Bar colour of the findings chart.
pub const FINDING_COLOUR: &str = "#dc2626";

const CHART_WIDTH: u64 = 1000;
const LABEL_WIDTH: u64 = 420;
const ROW_HEIGHT: u64 = 22;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A horizontal bar chart as inline SVG.
fn bars(out: &mut String, title: &str, rows: &[(String, u64)], colour: &str) {
    let _ = writeln!(out, "<h2>{}</h2>", esc(title));
    if rows.is_empty() {
        let _ = writeln!(out, "<p class=none>none</p>");
        return;
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let height = ROW_HEIGHT * rows.len() as u64;
    let span = CHART_WIDTH - LABEL_WIDTH - 80;
    let _ = writeln!(
        out,
        "<svg role=img aria-label=\"{}\" width={CHART_WIDTH} height={height} viewBox=\"0 0 {CHART_WIDTH} {height}\">",
        esc(title)
    );
    for (i, (label, n)) in rows.iter().enumerate() {
        let y = ROW_HEIGHT * i as u64;
        let w = (n * span).div_ceil(max).max(2);
        let shown: String = label.chars().take(56).collect();
        let _ = writeln!(
            out,
            "<text x={} y={} text-anchor=end class=l>{}</text>\
             <rect x={LABEL_WIDTH} y={} width={w} height={} fill=\"{colour}\"><title>{}: {n}</title></rect>\
             <text x={} y={} class=n>{n}</text>",
            LABEL_WIDTH - 8,
            y + 15,
            esc(&shown),
            y + 3,
            ROW_HEIGHT - 6,
            esc(label),
            LABEL_WIDTH + w + 6,
            y + 15,
        );
    }
    let _ = writeln!(out, "</svg>");
}

fn top(c: &Counts, n: usize) -> Vec<(String, u64)> {
    c.iter().take(n).cloned().collect()
}

/// A ranked chart of the first `n` of `c`, with the text report's "(N more, M
/// handshakes)" note under it when some were left out.
fn ranked(out: &mut String, title: &str, c: &Counts, n: usize) {
    bars(out, title, &top(c, n), BAR_COLOUR);
    more(out, c.len(), n, c.iter().skip(n).map(|r| r.1).sum());
}

fn more(out: &mut String, len: usize, n: usize, rest: u64) {
    if let Some(note) = more_note(len, n, rest) {
        let _ = writeln!(out, "<p class=more>{note}</p>");
    }
}

fn pq_table(out: &mut String, title: &str, rows: &[PqRow], n: usize) {
    let _ = writeln!(out, "<h3>{}</h3>", esc(title));
    if rows.is_empty() {
        let _ = writeln!(out, "<p class=none>none</p>");
        return;
    }
    let _ = writeln!(
        out,
        "<table><tr><th></th><th>handshakes</th><th>PQ offered</th><th>PQ negotiated</th></tr>"
    );
    for r in rows.iter().take(n) {
        let cell = |k: u64| format!("{k} ({})", percent((k, r.handshakes)));
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.key),
            r.handshakes,
            cell(r.offered),
            cell(r.negotiated)
        );
    }
    let _ = writeln!(out, "</table>");
    more(
        out,
        rows.len(),
        n,
        rows.iter().skip(n).map(|r| r.handshakes).sum(),
    );
}

/// The "Post-quantum readiness" section.
fn readiness(out: &mut String, r: &Readiness, n: usize) {
    let _ = writeln!(
        out,
        "<h2>Post-quantum readiness</h2>\
         <table><tr><th></th><th>handshakes</th><th>of</th><th>share</th></tr>"
    );
    let line = |out: &mut String, what: &str, s: Share, of: &str| {
        let _ = writeln!(
            out,
            "<tr><td>{what}</td><td>{}</td><td>{} {of}</td><td>{}</td></tr>",
            s.0,
            s.1,
            percent(s)
        );
    };
    line(
        out,
        "PQ key exchange offered",
        r.pq_offered,
        "with a ClientHello",
    );
    line(
        out,
        "PQ key exchange negotiated",
        r.pq_negotiated,
        "with a ServerHello",
    );
    line(out, "ECH offered", r.ech_offered, "with a ClientHello");
    line(
        out,
        "TLS 1.3 negotiated",
        r.tls13,
        "with a negotiated version",
    );
    let _ = writeln!(out, "</table>");
    pq_table(out, "By server name", &r.by_sni, n);
    pq_table(out, "By client JA4", &r.by_ja4, n);
}

/// The whole report as one HTML page; `n` entries per ranked list.
pub fn render(s: &Summary, n: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <title>tlstap report: {}</title><style>\
         body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111;max-width:1040px}}\
         h1{{font-size:22px}}h2{{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}}\
         .l{{font:12px monospace;fill:#222}}.n{{font:12px sans-serif;fill:#444}}\
         table{{border-collapse:collapse}}td,th{{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}}\
         code{{font-size:12px}}.none,.more{{color:#777}}h3{{font-size:15px}}</style></head><body>",
        esc(&s.dir.display().to_string())
    );
    let span = match (s.first_ts_us, s.last_ts_us) {
        (Some(a), Some(b)) => format!("packets from {} to {}", format_ts(a), format_ts(b)),
        _ => "no packet times".into(),
    };
    let _ = writeln!(
        out,
        "<h1>tlstap report</h1><p><code>{}</code><br>{} handshakes, {} distinct certificates, {}.</p>",
        esc(&s.dir.display().to_string()),
        s.handshakes,
        s.certificates,
        esc(&span)
    );
    let finding_rows: Vec<(String, u64)> = s
        .findings
        .iter()
        .map(|f| (f.code.clone(), f.count))
        .collect();
    bars(&mut out, "Findings", &finding_rows, FINDING_COLOUR);
    if !s.findings.is_empty() {
        let _ = writeln!(
            out,
            "<table><tr><th>finding</th><th>count</th><th>meaning</th><th>examples</th></tr>"
        );
        for f in &s.findings {
            let ex: Vec<String> = f.examples.iter().map(|e| esc(e)).collect();
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.code),
                f.count,
                esc(describe(&f.code)),
                ex.join("<br>")
            );
        }
        let _ = writeln!(out, "</table>");
    }
    ranked(&mut out, "Handshakes by version", &s.versions, n);
    ranked(&mut out, "Handshakes by cipher suite", &s.ciphers, n);
    ranked(&mut out, "Chain validation", &s.validation, n);
    ranked(&mut out, "Top SNIs", &s.snis, n);
    ranked(&mut out, "Top JA4 fingerprints", &s.ja4s, n);
    readiness(&mut out, &s.readiness, n);
    let _ = writeln!(
        out,
        "<h2>Certificates expired or expiring within {EXPIRY_WINDOW_DAYS} days</h2>\
         <p>Relative to the latest packet time in the data ({}), not to today.</p>",
        esc(&s.last_ts_us.map_or("none".into(), format_ts))
    );
    if s.expiring.is_empty() {
        let _ = writeln!(out, "<p class=none>none</p>");
    } else {
        let _ = writeln!(
            out,
            "<table><tr><th>not after</th><th>days left</th><th>subject</th><th>sha256</th></tr>"
        );
        for e in s.expiring.iter().take(n) {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&format_ts(e.not_after_us)),
                e.days_left,
                esc(&e.subject),
                esc(&e.sha256)
            );
        }
        let _ = writeln!(out, "</table>");
        if s.expiring.len() > n {
            let _ = writeln!(out, "<p class=more>({} more)</p>", s.expiring.len() - n);
        }
    }
    let _ = writeln!(out, "</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the text report notes as "N more" the page notes too.
    #[test]
    fn more_notes_match_the_text_report() {
        let counts: Counts = (0..5).map(|i| (format!("v{i}"), 5 - i)).collect();
        let s = Summary {
            versions: counts.clone(),
            snis: counts,
            readiness: Readiness {
                by_ja4: (0..4)
                    .map(|i| PqRow {
                        key: format!("t13d{i}"),
                        handshakes: 2,
                        offered: 1,
                        negotiated: 0,
                    })
                    .collect(),
                pq_offered: (4, 8),
                ..Readiness::default()
            },
            ..Summary::default()
        };
        let h = render(&s, 2);
        let t = super::super::text::render(&s, 2);
        for note in ["(3 more, 6 handshakes)", "(2 more, 4 handshakes)"] {
            assert!(h.contains(note), "html lacks {note}");
            assert!(t.contains(note), "text lacks {note}");
        }
        assert_eq!(h.matches("(3 more, 6 handshakes)").count(), 2);
        assert!(h.contains("Post-quantum readiness") && t.contains("Post-quantum readiness"));
        assert!(h.contains("50.0%") && t.contains("50.0%"));
        assert!(h.contains("1 (50.0%)"));
    }

    #[test]
    fn values_are_escaped() {
        let s = Summary {
            snis: vec![("<script>x</script>".into(), 1)],
            ..Summary::default()
        };
        let h = render(&s, 10);
        assert!(!h.contains("<script>"));
        assert!(h.contains("&lt;script&gt;"));
        assert!(
            !h.contains("http://") && !h.contains("https://"),
            "no external assets"
        );
    }
}
