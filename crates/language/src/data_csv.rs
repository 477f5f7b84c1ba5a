//! CSV reading into [`Data`]: a table as people have it, turned into what a Stan program reads.
//!
//! - The first row is the header; each later row is one observation. `N` is the number of rows.
//! - A column whose every value is a number becomes a one-dimensional array under the column's
//!   name (integers when every value is an integer literal, reals otherwise).
//! - Any other column is text: its values become a 1..J index in order of first appearance, its size
//!   is `J_<name>`, and the level names are kept in [`CsvData::levels`].
//! - So is an integer column named like an identifier (`Subject`, `id`, `patient_id`, `herd`,
//!   `school`, ...; see [`ID_NAMES`]) whose values repeat and are not already 1..J: codes such
//!   as subject numbers 308-372 name groups, they are not quantities.
//! - A name that is not a Stan identifier has every other character replaced by `_`
//!   (`Infant.Mortality` -> `Infant_Mortality`).
//! - An empty field, `NA`, `N/A`, `NaN`, `nan`, `null` or `NULL` is a missing value: an error naming
//!   the line and column, or, with [`CsvOptions::drop_missing`], the row is dropped and counted.
//!
//! Every error names the line (1-based, the header is line 1) and column it is about.

use crate::data::{Data, DataError, DataValue};
use std::collections::BTreeMap;

/// How a CSV file is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvOptions {
    /// Drop every row with a missing value instead of failing on the first one.
    pub drop_missing: bool,
}

/// A CSV file read as data.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvData {
    /// The variables, text columns coded as 1-based level indexes.
    pub data: Data,
    /// Text columns: variable name -> level names, level `k` (1-based) at index `k - 1`.
    pub levels: BTreeMap<String, Vec<String>>,
    /// Lines (1-based, header = line 1) of the rows dropped for a missing value.
    pub dropped_lines: Vec<u64>,
    /// Columns renamed to be Stan identifiers: (name in the file, variable name).
    pub renamed: Vec<(String, String)>,
    /// The variables in the order of the file's columns (`N` first, `J_<name>` after a text
    /// column).
    pub columns: Vec<String>,
}

const MISSING: [&str; 7] = ["", "NA", "N/A", "NaN", "nan", "null", "NULL"];

fn csv_error(message: String) -> DataError {
    DataError::Csv(message)
}

/// A Stan identifier for a column name: characters other than ASCII letters, digits and `_`
/// become `_`, and a name starting with a digit gets the prefix `x`.
fn identifier(name: &str) -> String {
    let mut out: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'x');
    }
    out
}

/// Names (lowercased, or ending in `_id`/`id`) of integer columns that hold group codes.
pub const ID_NAMES: [&str; 24] = [
    "id",
    "subject",
    "subj",
    "patient",
    "participant",
    "individual",
    "person",
    "group",
    "cluster",
    "herd",
    "farm",
    "site",
    "school",
    "class",
    "unit",
    "block",
    "plate",
    "batch",
    "district",
    "region",
    "county",
    "village",
    "household",
    "hospital",
];

/// An integer column of group codes: named like an identifier, values repeating, and not
/// already the levels 1..J.
fn group_codes(name: &str, ints: &[i64]) -> bool {
    let lower = name.to_lowercase();
    let named = ID_NAMES.contains(&lower.as_str())
        || lower.ends_with("_id")
        || (lower.len() > 2 && lower.ends_with("id") && !lower.ends_with("oid"));
    if !named {
        return false;
    }
    let distinct: std::collections::BTreeSet<i64> = ints.iter().copied().collect();
    let already_levels =
        distinct.first() == Some(&1) && distinct.last() == Some(&(distinct.len() as i64));
    distinct.len() < ints.len() && !already_levels
}

pub(crate) fn parse(text: &str, options: CsvOptions) -> Result<CsvData, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| csv_error(format!("cannot read the header row: {e}")))?
        .clone();
    if header.is_empty() {
        return Err(csv_error("the header row is empty".into()));
    }
    let mut names = Vec::with_capacity(header.len());
    let mut renamed = Vec::new();
    for (k, raw) in header.iter().enumerate() {
        if raw.is_empty() {
            return Err(csv_error(format!(
                "column {} has an empty name in the header row",
                k + 1
            )));
        }
        let name = identifier(raw);
        if name != raw {
            renamed.push((raw.to_string(), name.clone()));
        }
        if name == "N" {
            return Err(csv_error(format!(
                "column {} is named `{raw}`, which clashes with `N`, the number of rows; rename it",
                k + 1
            )));
        }
        if names.contains(&name) {
            return Err(csv_error(format!(
                "two columns are named `{name}` (column {} and column {})",
                names.iter().position(|n| n == &name).unwrap_or(0) + 1,
                k + 1
            )));
        }
        names.push(name);
    }

    // Rows as text, keeping each row's line for messages.
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    let mut dropped_lines = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths {
                pos,
                expected_len,
                len,
            } => csv_error(format!(
                "line {}: {len} fields, but the header has {expected_len} columns",
                pos.as_ref().map_or(0, |p| p.line())
            )),
            _ => csv_error(e.to_string()),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let missing = record.iter().position(|f| MISSING.contains(&f));
        if let Some(col) = missing {
            if options.drop_missing {
                dropped_lines.push(line);
                continue;
            }
            return Err(csv_error(format!(
                "line {line} (data row {}), column `{}`: missing value ({}); fill it in, or pass \
                 --drop-missing to drop rows with a missing value",
                row + 1,
                names[col],
                match &record[col] {
                    "" => "an empty field".to_string(),
                    text => format!("`{text}`"),
                }
            )));
        }
        rows.push((line, record.iter().map(str::to_string).collect()));
    }
    if rows.is_empty() {
        return Err(csv_error(if dropped_lines.is_empty() {
            "the file has a header row but no data rows".into()
        } else {
            format!(
                "every one of the {} data rows has a missing value",
                dropped_lines.len()
            )
        }));
    }

    let n = rows.len();
    let mut data = Data::default();
    let mut levels = BTreeMap::new();
    let mut columns = vec!["N".to_string()];
    data.vars
        .insert("N".into(), DataValue::scalar(n as f64, true));
    for (col, name) in names.iter().enumerate() {
        let fields: Vec<&str> = rows.iter().map(|(_, r)| r[col].as_str()).collect();
        let ints: Option<Vec<i64>> = fields.iter().map(|f| f.parse::<i64>().ok()).collect();
        let codes = ints.as_ref().is_some_and(|i| group_codes(name, i));
        let reals = || {
            fields
                .iter()
                .map(|f| f.parse::<f64>().ok())
                .collect::<Option<Vec<f64>>>()
        };
        let value = if let Some(ints) = ints.filter(|_| !codes) {
            DataValue::array(vec![n], ints.into_iter().map(|i| i as f64).collect(), true)
        } else if let Some(reals) = reals().filter(|_| !codes) {
            DataValue::array(vec![n], reals, false)
        } else {
            let mut seen: Vec<String> = Vec::new();
            let mut index = Vec::with_capacity(n);
            for f in &fields {
                let k = match seen.iter().position(|s| s == f) {
                    Some(k) => k,
                    None => {
                        seen.push((*f).to_string());
                        seen.len() - 1
                    }
                };
                index.push((k + 1) as f64);
            }
            let size_name = format!("J_{name}");
            if names.contains(&size_name) {
                return Err(csv_error(format!(
                    "column `{name}` is text, and its number of levels would be `{size_name}`, \
                     but a column already has that name"
                )));
            }
            data.vars.insert(
                size_name.clone(),
                DataValue::scalar(seen.len() as f64, true),
            );
            columns.push(size_name);
            levels.insert(name.clone(), seen);
            DataValue::array(vec![n], index, true)
        };
        data.vars.insert(name.clone(), value);
        columns.push(name.clone());
    }
    Ok(CsvData {
        data,
        levels,
        dropped_lines,
        renamed,
        columns,
    })
}

/// Whether data text is CSV rather than Stan JSON: a Stan JSON file starts with `{` (after
/// whitespace and an optional byte order mark).
pub(crate) fn looks_like_csv(text: &str) -> bool {
    !text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> CsvData {
        parse(text, CsvOptions::default()).unwrap()
    }

    #[test]
    fn numeric_columns_become_arrays_and_n_counts_rows() {
        let d = read("x,y\n1.5,2\n-2,3\n4e-1,10\n");
        assert_eq!(d.data.get("N"), Some(&DataValue::scalar(3.0, true)));
        assert_eq!(
            d.data.get("x"),
            Some(&DataValue::array(vec![3], vec![1.5, -2.0, 0.4], false))
        );
        assert_eq!(
            d.data.get("y"),
            Some(&DataValue::array(vec![3], vec![2.0, 3.0, 10.0], true))
        );
        assert!(d.levels.is_empty());
    }

    #[test]
    fn a_text_column_becomes_an_index_with_its_size_and_levels() {
        let d = read("group,y\nb,1\na,2\nb,3\n\"c, d\",4\n");
        assert_eq!(
            d.data.get("group"),
            Some(&DataValue::array(vec![4], vec![1.0, 2.0, 1.0, 3.0], true))
        );
        assert_eq!(d.data.get("J_group"), Some(&DataValue::scalar(3.0, true)));
        assert_eq!(d.levels["group"], vec!["b", "a", "c, d"]);
    }

    #[test]
    fn integer_group_codes_become_an_index() {
        let d = read("Reaction,Days,Subject\n249.5,0,308\n258.7,1,308\n222.7,0,330\n205.2,1,330\n199.0,0,309\n");
        assert_eq!(
            d.data.get("Subject").unwrap().values,
            [1.0, 1.0, 2.0, 2.0, 3.0]
        );
        assert_eq!(d.data.get("J_Subject").unwrap().values, [3.0]);
        assert_eq!(d.levels["Subject"], vec!["308", "330", "309"]);
        // Quantities named otherwise, codes already 1..J, and ids of single rows stay integers.
        assert_eq!(
            d.data.get("Days").unwrap().values,
            [0.0, 1.0, 0.0, 1.0, 0.0]
        );
        let d = read("y,group,id\n1.5,1,10\n2.5,2,11\n0.5,1,12\n");
        assert!(d.levels.is_empty());
        assert_eq!(d.data.get("group").unwrap().values, [1.0, 2.0, 1.0]);
        assert_eq!(d.data.get("id").unwrap().values, [10.0, 11.0, 12.0]);
    }

    #[test]
    fn names_become_identifiers() {
        let d = read("Infant.Mortality, 2x \n1,2\n");
        assert!(d.data.get("Infant_Mortality").is_some());
        assert!(d.data.get("x2x").is_some());
        assert_eq!(d.renamed.len(), 2);
    }

    #[test]
    fn a_missing_value_names_line_and_column() {
        let e = parse("x,y\n1,2\n3,NA\n", CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("`y`") && e.contains("--drop-missing"),
            "{e}"
        );
        let e = parse("x,y\n1,\n", CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("`y`"), "{e}");
        // A quoted field over two lines: line 4 is data row 2.
        let e = parse("x,y\n\"a\nb\",1\nc,NA\n", CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4 (data row 2)"), "{e}");
    }

    #[test]
    fn drop_missing_drops_and_counts_rows() {
        let d = parse(
            "x,g\n1,a\n,b\n3,NA\n4,c\n",
            CsvOptions { drop_missing: true },
        )
        .unwrap();
        assert_eq!(d.dropped_lines, vec![3, 4]);
        assert_eq!(d.data.get("N"), Some(&DataValue::scalar(2.0, true)));
        assert_eq!(d.levels["g"], vec!["a", "c"]);
    }

    #[test]
    fn malformed_tables_are_errors_not_panics() {
        for (text, want) in [
            ("x,y\n1,2\n3\n", "line 3"),
            ("x,x\n1,2\n", "two columns"),
            ("N,y\n1,2\n", "clashes with `N`"),
            ("x,y\n", "no data rows"),
            ("g,J_g\na,1\n", "J_g"),
            ("x,\n1,2\n", "empty name"),
        ] {
            let e = parse(text, CsvOptions::default()).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn json_is_told_from_csv_by_its_first_character() {
        assert!(!looks_like_csv("  \n{\"N\": 1}"));
        assert!(!looks_like_csv("\u{feff}{}"));
        assert!(looks_like_csv("x,y\n1,2\n"));
    }
}
