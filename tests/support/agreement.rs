//! Per-field agreement between tlstap and an oracle, with argued exceptions.
//!
//! Shared by the conformance tests and `examples/cert_oracle.rs` (which includes this
//! file by path): one place that counts agreements and keeps the differences.

use std::collections::{BTreeMap, BTreeSet};

/// `(certificate or row id prefix, field, why the values differ)`; field `"*"` covers
/// every field of that id.
pub type Exception = (&'static str, &'static str, &'static str);

/// Agreement counts per field, and the differences no exception excuses.
#[derive(Default)]
pub struct Tally {
    pub oracle: &'static str,
    pub exceptions: &'static [Exception],
    /// Also print every agreeing value.
    pub verbose: bool,
    /// field -> (agree, excused, differ)
    pub fields: BTreeMap<&'static str, (u32, u32, u32)>,
    pub diffs: Vec<String>,
    pub ids: BTreeSet<String>,
}

impl Tally {
    pub fn new(oracle: &'static str, exceptions: &'static [Exception]) -> Self {
        Tally {
            oracle,
            exceptions,
            ..Tally::default()
        }
    }

    fn excused(&self, who: &str, field: &str) -> Option<&'static str> {
        self.exceptions
            .iter()
            .find(|(id, f, _)| who.starts_with(id) && (*f == field || *f == "*"))
            .map(|e| e.2)
    }

    /// Compare one field of `who`.
    pub fn check(&mut self, field: &'static str, who: &str, theirs: &str, ours: &str) {
        self.ids.insert(who.to_string());
        let why = self.excused(who, field);
        let e = self.fields.entry(field).or_default();
        if theirs == ours {
            e.0 += 1;
            if self.verbose {
                println!("  ok   {field:<14} {who}: {ours}");
            }
        } else if let Some(why) = why {
            e.1 += 1;
            println!("  excused {field} {who}: theirs {theirs:?}, ours {ours:?} ({why})");
        } else {
            e.2 += 1;
            self.diffs.push(format!(
                "{} {field} {who}: theirs {theirs:?}, ours {ours:?}",
                self.oracle
            ));
        }
    }

    /// Print the per-field table and the unexcused differences.
    pub fn print(&self) {
        println!("\n== {}: {} distinct ids ==", self.oracle, self.ids.len());
        println!(
            "{:<16} {:>6} {:>8} {:>6}",
            "field", "agree", "excused", "differ"
        );
        for (f, (a, x, d)) in &self.fields {
            println!("{f:<16} {a:>6} {x:>8} {d:>6}");
        }
        for d in &self.diffs {
            println!("  DIFF {d}");
        }
    }
}
