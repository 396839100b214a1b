//! Field-by-field agreement bookkeeping for the conformance tests: every comparison is
//! counted per field, every disagreement is either listed in the test's EXCEPTIONS (a
//! reasoned, documented choice) or fails the test with a diff. An exception that no
//! longer occurs fails the test too, so the list cannot go stale.

use std::collections::BTreeMap;
use std::path::Path;

use tlstap::decode::DecoderLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::pipeline::analyze_capture;
use tlstap::row::HandshakeRow;

/// A known, explained disagreement with an oracle.
pub struct Exception {
    /// Capture path relative to the corpus root.
    pub capture: &'static str,
    /// Connection as printed by the test (`client:port > server:port`, oracle orientation).
    pub conn: &'static str,
    pub field: &'static str,
    pub ours: &'static str,
    pub theirs: &'static str,
    /// Why we keep our value: the reasoned choice, and what confirmed it (tshark, RFC).
    pub why: &'static str,
}

#[derive(Debug, Clone)]
struct Mismatch {
    capture: String,
    conn: String,
    field: &'static str,
    ours: String,
    theirs: String,
    context: String,
}

#[derive(Default)]
struct Count {
    agree: usize,
    excepted: usize,
    total: usize,
}

/// Agreement counts per field, in the order fields were first compared.
#[derive(Default)]
pub struct Agreement {
    order: Vec<&'static str>,
    counts: BTreeMap<&'static str, Count>,
    mismatches: Vec<Mismatch>,
}

impl Agreement {
    /// Record one comparison. `context` says where the oracle's value came from.
    pub fn check(
        &mut self,
        capture: &str,
        conn: &str,
        field: &'static str,
        ours: &str,
        theirs: &str,
        context: &str,
    ) {
        if !self.counts.contains_key(field) {
            self.order.push(field);
        }
        let c = self.counts.entry(field).or_default();
        c.total += 1;
        if ours == theirs {
            c.agree += 1;
        } else {
            self.mismatches.push(Mismatch {
                capture: capture.to_string(),
                conn: conn.to_string(),
                field,
                ours: ours.to_string(),
                theirs: theirs.to_string(),
                context: context.to_string(),
            });
        }
    }

    /// Print the table (stdout and stderr, so CI logs show it) and fail on any
    /// disagreement not in `exceptions`, or any exception that did not occur.
    pub fn finish(mut self, oracle: &str, exceptions: &[Exception]) {
        let mut used = vec![false; exceptions.len()];
        let mut unexpected = Vec::new();
        for m in &self.mismatches {
            let hit = exceptions.iter().position(|e| {
                e.capture == m.capture
                    && e.conn == m.conn
                    && e.field == m.field
                    && e.ours == m.ours
                    && e.theirs == m.theirs
            });
            match hit {
                Some(i) => {
                    used[i] = true;
                    if let Some(c) = self.counts.get_mut(m.field) {
                        c.excepted += 1;
                    }
                }
                None => unexpected.push(m.clone()),
            }
        }
        let mut table = format!(
            "\n{oracle} agreement (agree = same value; explained = listed exception)\n\
             {:<20} {:>7} {:>9} {:>7} {:>8} {:>10}\n",
            "field", "agree", "explained", "total", "agree%", "explained%"
        );
        for f in &self.order {
            let c = &self.counts[f];
            let pct = |n: usize| 100.0 * n as f64 / c.total.max(1) as f64;
            table.push_str(&format!(
                "{:<20} {:>7} {:>9} {:>7} {:>7.1}% {:>9.1}%\n",
                f,
                c.agree,
                c.excepted,
                c.total,
                pct(c.agree),
                pct(c.agree + c.excepted)
            ));
        }
        println!("{table}");
        eprintln!("{table}");
        let mut failures = Vec::new();
        for m in &unexpected {
            failures.push(format!(
                "MISMATCH {} [{}] {}: ours={:?} theirs={:?} ({})",
                m.capture, m.conn, m.field, m.ours, m.theirs, m.context
            ));
        }
        for (e, u) in exceptions.iter().zip(&used) {
            if !u {
                failures.push(format!(
                    "STALE EXCEPTION {} [{}] {}: ours={:?} theirs={:?} no longer occurs; remove it",
                    e.capture, e.conn, e.field, e.ours, e.theirs
                ));
            }
        }
        self.mismatches.clear();
        assert!(
            failures.is_empty(),
            "{oracle}: {} problem(s):\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// `a:p > b:p`, bracketing IPv6 addresses.
pub fn conn(a: &str, ap: u16, b: &str, bp: u16) -> String {
    let ep = |ip: &str, p: u16| {
        if ip.contains(':') {
            format!("[{ip}]:{p}")
        } else {
            format!("{ip}:{p}")
        }
    };
    format!("{} > {}", ep(a, ap), ep(b, bp))
}

/// Path relative to the corpus root, as used in exception lists.
pub fn rel(corpus: &Path, p: &Path) -> String {
    p.strip_prefix(corpus)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// Our rows for one capture, with default limits.
pub fn analyze(path: &Path) -> Vec<HandshakeRow> {
    analyze_capture(path, FlowLimits::default(), DecoderLimits::default()).0
}

/// `Some(true)` when `r` is the connection `a:ap > b:bp` with `a` our client,
/// `Some(false)` when it is with `a` our server, `None` when it is another connection.
pub fn same_conn(r: &HandshakeRow, a: &str, ap: u16, b: &str, bp: u16) -> Option<bool> {
    let c = (r.meta.src_ip.to_string(), r.meta.src_port);
    let s = (r.meta.dst_ip.to_string(), r.meta.dst_port);
    if (c.0.as_str(), c.1, s.0.as_str(), s.1) == (a, ap, b, bp) {
        Some(true)
    } else if (s.0.as_str(), s.1, c.0.as_str(), c.1) == (a, ap, b, bp) {
        Some(false)
    } else {
        None
    }
}

/// `client > server` of one of our rows.
pub fn our_conn(r: &HandshakeRow) -> String {
    conn(
        &r.meta.src_ip.to_string(),
        r.meta.src_port,
        &r.meta.dst_ip.to_string(),
        r.meta.dst_port,
    )
}
