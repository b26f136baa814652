//! Output: aligned tables for people, the API's JSON for scripts.

use serde_json::Value;

/// A column: its header and where its value is in a row (a JSON pointer).
pub type Column = (&'static str, &'static str);

/// The widest a cell is printed; longer values end in `…`.
const MAX_CELL: usize = 48;

/// `s` safe to print on a terminal: control characters other than newline
/// and tab (escape sequences, carriage returns, C1 codes) and the
/// bidirectional overrides become U+FFFD, so text from the API (a title, an
/// error, a model's answer) cannot move the cursor, recolour or rewrite the
/// operator's screen, or reorder what it shows.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
            if (c.is_control() && c != '\n' && c != '\t') || bidi {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// One cell's text: strings as they are, `null` as `-`, numbers and the
/// rest as JSON, on one line.
pub fn cell(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")
        }
        Some(other) => other.to_string(),
    };
    let text = printable(&text.replace(['\n', '\r', '\t'], " "));
    if text.chars().count() > MAX_CELL {
        let cut: String = text.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The rows as a table with a header line.
pub fn render(rows: &[Value], columns: &[Column]) -> String {
    let cells: Vec<Vec<String>> =
        rows.iter().map(|r| columns.iter().map(|(_, p)| cell(r.pointer(p))).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| cells.iter().map(|r| r[i].chars().count()).chain([h.len()]).max().unwrap_or(0))
        .collect();
    let line = |values: Vec<&str>| {
        let padded: Vec<String> = values.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(columns.iter().map(|(h, _)| *h).collect())];
    out.extend(cells.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out.join("\n")
}

/// Prints `value` as pretty JSON (escaped: safe on any terminal).
pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON prints"));
}

/// Prints `value` as JSON when `json`, else `rows_at` (a pointer to an
/// array, or `""` for the value itself) as a table.
pub fn print(value: &Value, json: bool, rows_at: &str, columns: &[Column]) {
    if json {
        print_json(value);
        return;
    }
    let rows = match value.pointer(rows_at) {
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    };
    println!("{}", render(&rows, columns));
}

/// Prints a page of `/items` (or its JSON), and on stderr how to ask for
/// the next page.
pub fn print_page(page: &Value, json: bool, columns: &[Column]) {
    print(page, json, "/items", columns);
    if let (false, Some(next)) = (json, page["next_cursor"].as_str()) {
        eprintln!("next: --cursor {next}");
    }
}

/// Prints one object as `field  value` lines (the fields given), or JSON.
pub fn print_fields(value: &Value, json: bool, fields: &[Column]) {
    if json {
        print_json(value);
        return;
    }
    let width = fields.iter().map(|(h, _)| h.len()).max().unwrap_or(0);
    for (h, p) in fields {
        if let Some(v) = value.pointer(p).filter(|v| !v.is_null()) {
            let text = match v {
                Value::String(s) => printable(s),
                other => serde_json::to_string(other).expect("JSON prints"),
            };
            println!("{h:<width$}  {text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_and_cells_are_one_printable_line() {
        let rows = [json!({"id": "a", "n": 12, "tags": ["x", "y"]}), json!({"id": "bbbb", "n": null})];
        let t = render(&rows, &[("ID", "/id"), ("N", "/n"), ("TAGS", "/tags")]);
        assert_eq!(t, "ID    N   TAGS\na     12  x,y\nbbbb  -   -");
        let hostile = cell(Some(&json!("a\u{1b}[2Jb\u{9b}c\u{202e}d\re")));
        assert_eq!(hostile, "a\u{FFFD}[2Jb\u{FFFD}c\u{FFFD}d e");
        assert_eq!(printable("two\nlines\tand\u{7}"), "two\nlines\tand\u{FFFD}");
        let long = cell(Some(&json!("line\n".repeat(40))));
        assert_eq!(long.chars().count(), MAX_CELL);
        assert!(long.ends_with('…') && !long.contains('\n'));
    }
}
