//! Column documentation, from one source: the column tables of README.md ("Output
//! schema"), compiled in. Delta tables carry each column's text as its `comment` (what
//! Spark's `DESCRIBE`, Databricks and Trino show), so the docs travel with the table.
//!
//! A row `| `a`, `b` | type | meaning |` documents every column it names.

use std::collections::HashMap;
use std::sync::OnceLock;

const README: &str = include_str!("../../README.md");

/// The tables documented in README, by the heading that starts each section.
const SECTIONS: [(&str, &str); 2] = [
    ("handshakes", "### `handshakes`"),
    ("certificates", "### `certificates`"),
];

fn parse() -> HashMap<(&'static str, String), String> {
    let mut docs = HashMap::new();
    for (table, heading) in SECTIONS {
        let Some(start) = README.find(heading) else {
            continue;
        };
        let body = &README[start..];
        for line in body
            .lines()
            .skip(1)
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
        {
            let cells: Vec<&str> = line.split(" | ").collect();
            if cells.len() < 3 {
                continue;
            }
            let names = cells[0].trim_start_matches('|').trim();
            let meaning = cells[2..].join(" | ");
            let meaning = meaning.trim_end_matches('|').trim().replace("\\|", "|");
            for name in names.split(',') {
                let name = name.trim().trim_matches('`');
                if !name.is_empty() && name != "column" && !name.starts_with('-') {
                    docs.insert((table, name.to_owned()), meaning.clone());
                }
            }
        }
    }
    docs
}

/// The documentation of `column` of `table`, if README has it.
pub fn column_doc(table: &str, column: &str) -> Option<&'static str> {
    static DOCS: OnceLock<HashMap<(&'static str, String), String>> = OnceLock::new();
    let docs = DOCS.get_or_init(parse);
    let table = SECTIONS.iter().find(|(t, _)| *t == table)?.0;
    docs.get(&(table, column.to_owned())).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{certificates_schema, handshakes_schema};

    /// Every column of both tables is documented in README, and nothing more.
    #[test]
    fn every_column_is_documented_in_the_readme() {
        for (table, schema) in [
            ("handshakes", handshakes_schema()),
            ("certificates", certificates_schema()),
        ] {
            for f in schema.fields() {
                assert!(
                    column_doc(table, f.name()).is_some_and(|d| !d.is_empty()),
                    "README has no row for {table}.{}",
                    f.name()
                );
            }
        }
        assert!(column_doc("handshakes", "sni")
            .unwrap()
            .contains("server_name"));
        assert_eq!(column_doc("handshakes", "no_such_column"), None);
    }
}
