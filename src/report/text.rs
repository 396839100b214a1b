//! The terminal rendering of a [`Summary`]: plain text, bars of `#`, no colour codes
//! (it is often piped or pasted).

use std::fmt::Write as _;

use super::{
    format_ts, more_note, percent, Counts, PqRow, Readiness, Share, Summary, EXPIRY_WINDOW_DAYS,
};
use crate::findings::describe;

/// Width of the longest bar, in characters.
const BAR_WIDTH: u64 = 30;

fn section(out: &mut String, title: &str, counts: &Counts, top: usize) {
    let _ = writeln!(out, "\n{title}");
    if counts.is_empty() {
        let _ = writeln!(out, "  (none)");
        return;
    }
    let max = counts.first().map_or(1, |c| c.1.max(1));
    let width = counts
        .iter()
        .take(top)
        .map(|c| c.0.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in counts.iter().take(top) {
        let bar = "#".repeat(usize::try_from((v * BAR_WIDTH).div_ceil(max)).unwrap_or(0));
        let _ = writeln!(out, "  {k:<width$}  {v:>7}  {bar}");
    }
    let rest: u64 = counts.iter().skip(top).map(|c| c.1).sum();
    if let Some(note) = more_note(counts.len(), top, rest) {
        let _ = writeln!(out, "  {note}");
    }
}

fn share_line(out: &mut String, what: &str, s: Share, of: &str) {
    let _ = writeln!(
        out,
        "  {what:<27} {:>7} of {:>7} {of:<36} {:>6}",
        s.0,
        s.1,
        percent(s)
    );
}

fn pq_table(out: &mut String, title: &str, rows: &[PqRow], top: usize) {
    let _ = writeln!(out, "  {title}");
    if rows.is_empty() {
        let _ = writeln!(out, "    (none)");
        return;
    }
    let width = rows
        .iter()
        .take(top)
        .map(|r| r.key.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let _ = writeln!(
        out,
        "    {:<width$}  {:>10}  {:>15}  {:>15}",
        "", "handshakes", "PQ offered", "PQ negotiated"
    );
    for r in rows.iter().take(top) {
        let cell = |n: u64| format!("{n} ({})", percent((n, r.handshakes)));
        let _ = writeln!(
            out,
            "    {:<width$}  {:>10}  {:>15}  {:>15}",
            r.key,
            r.handshakes,
            cell(r.offered),
            cell(r.negotiated)
        );
    }
    let rest: u64 = rows.iter().skip(top).map(|r| r.handshakes).sum();
    if let Some(note) = more_note(rows.len(), top, rest) {
        let _ = writeln!(out, "    {note}");
    }
}

/// The "Post-quantum readiness" section.
fn readiness(out: &mut String, r: &Readiness, top: usize) {
    let _ = writeln!(out, "\nPost-quantum readiness");
    share_line(
        out,
        "PQ key exchange offered",
        r.pq_offered,
        "handshakes with a ClientHello",
    );
    share_line(
        out,
        "PQ key exchange negotiated",
        r.pq_negotiated,
        "handshakes with a ServerHello",
    );
    share_line(
        out,
        "ECH offered",
        r.ech_offered,
        "handshakes with a ClientHello",
    );
    share_line(
        out,
        "TLS 1.3 negotiated",
        r.tls13,
        "handshakes with a negotiated version",
    );
    pq_table(out, "by server name", &r.by_sni, top);
    pq_table(out, "by client JA4", &r.by_ja4, top);
}

/// The whole report as text; `top` entries per ranked list.
pub fn render(s: &Summary, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tlstap report: {}", s.dir.display());
    let span = match (s.first_ts_us, s.last_ts_us) {
        (Some(a), Some(b)) => format!(", {} to {}", format_ts(a), format_ts(b)),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  {} handshakes, {} distinct certificates{span}",
        s.handshakes, s.certificates
    );
    section(&mut out, "Handshakes by version", &s.versions, top);
    section(&mut out, "Handshakes by cipher suite", &s.ciphers, top);
    section(&mut out, "Top SNIs", &s.snis, top);
    section(&mut out, "Top JA4 fingerprints", &s.ja4s, top);
    section(
        &mut out,
        "Chain validation (validation_status)",
        &s.validation,
        top,
    );

    let _ = writeln!(out, "\nFindings");
    if s.findings.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for f in &s.findings {
        let _ = writeln!(
            out,
            "  {:<24} {:>7}  {}",
            f.code,
            f.count,
            describe(&f.code)
        );
        for e in &f.examples {
            let _ = writeln!(out, "      e.g. {e}");
        }
    }

    readiness(&mut out, &s.readiness, top);

    let _ = writeln!(
        out,
        "\nCertificates expired or expiring within {EXPIRY_WINDOW_DAYS} days of the latest packet ({})",
        s.last_ts_us.map_or("no packets".into(), format_ts)
    );
    if s.expiring.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for e in s.expiring.iter().take(top) {
        let when = if e.days_left < 0 {
            format!("expired {} days earlier", -e.days_left)
        } else {
            format!("{} days left", e.days_left)
        };
        let _ = writeln!(
            out,
            "  {}  {:<26} {}  sha256 {}",
            format_ts(e.not_after_us),
            when,
            e.subject,
            e.sha256.get(..16).unwrap_or(&e.sha256)
        );
    }
    if s.expiring.len() > top {
        let _ = writeln!(out, "  ({} more)", s.expiring.len() - top);
    }
    out
}
