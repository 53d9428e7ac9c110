//! `--output json|jsonc|table|tsv|yaml|none` and `--query` (JMESPath), as `az` prints.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::Value;

/// How a command prints its result.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Format {
    /// Indented JSON.
    #[default]
    Json,
    /// Indented JSON (colour is left to the terminal).
    Jsonc,
    /// Columns with a header line.
    Table,
    /// Tab-separated values without headers, for scripts.
    Tsv,
    /// YAML.
    Yaml,
    /// Nothing.
    None,
}

/// The output flags every printing command takes.
#[derive(Args, Clone, Debug, Default)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
    /// JMESPath query applied before printing (e.g. `password`).
    #[arg(long)]
    pub query: Option<String>,
}

/// A value as one cell of a table or TSV row. Control characters (newlines, tabs, terminal
/// escape sequences) are written as escapes, so text a registry stored cannot break a row or
/// drive the terminal.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().any(char::is_control) => {
            s.chars().map(|c| if c.is_control() { c.escape_default().collect() } else { c.to_string() }).collect()
        }
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The TSV rows of a value: a list gives one row per item, an object one row of its scalar
/// values, a scalar one cell.
fn tsv(v: &Value) -> String {
    let row = |v: &Value| match v {
        Value::Object(m) => {
            m.values().filter(|x| !x.is_object() && !x.is_array()).map(scalar).collect::<Vec<_>>().join("\t")
        }
        other => scalar(other),
    };
    match v {
        Value::Array(items) => items.iter().map(row).collect::<Vec<_>>().join("\n"),
        other => row(other),
    }
}

/// Columns with a header line, as `az --output table`: a list of objects gives a row per
/// object with a column per scalar field of the first; a list of scalars (or one scalar) gives
/// one column headed `Result`, a row per value.
fn table(v: &Value) -> String {
    let row = |x: &Value| match x {
        Value::Object(m) => m.clone(),
        other => serde_json::Map::from_iter([("Result".to_owned(), other.clone())]),
    };
    let rows: Vec<serde_json::Map<String, Value>> = match v {
        Value::Array(items) if items.iter().any(Value::is_object) => {
            items.iter().filter_map(Value::as_object).cloned().collect()
        }
        Value::Array(items) => items.iter().map(row).collect(),
        other => vec![row(other)],
    };
    let Some(first) = rows.first() else { return String::new() };
    let columns: Vec<&String> = first.iter().filter(|(_, x)| !x.is_object() && !x.is_array()).map(|(k, _)| k).collect();
    let cells: Vec<Vec<String>> =
        rows.iter().map(|r| columns.iter().map(|c| r.get(*c).map(scalar).unwrap_or_default()).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r[i].len()).chain([c.len()]).max().unwrap_or(0))
        .collect();
    let line = |vals: Vec<String>| {
        vals.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(columns.iter().map(|c| c.to_string()).collect())];
    out.push(line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    out.extend(cells.into_iter().map(line));
    out.join("\n")
}

/// Applies `--query` and renders `value` in the chosen format (no trailing newline).
pub fn render(value: &Value, args: &OutputArgs) -> Result<Option<String>> {
    let value = match &args.query {
        None => value.clone(),
        Some(q) => {
            let expr = jmespath::compile(q).with_context(|| format!("invalid --query {q:?}"))?;
            let found = expr.search(value).with_context(|| format!("--query {q:?} failed"))?;
            serde_json::to_value(&*found)?
        }
    };
    Ok(match args.output {
        Format::None => None,
        Format::Json | Format::Jsonc => Some(serde_json::to_string_pretty(&value)?),
        Format::Tsv => Some(tsv(&value)),
        Format::Table => Some(table(&value)),
        Format::Yaml => Some(serde_saphyr::to_string(&value)?.trim_end().to_owned()),
    })
}

/// Renders and prints.
pub fn print(value: &Value, args: &OutputArgs) -> Result<()> {
    if let Some(text) = render(value, args)? {
        println!("{text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn out(v: Value, output: Format, query: Option<&str>) -> String {
        render(&v, &OutputArgs { output, query: query.map(str::to_owned) }).unwrap().unwrap_or_default()
    }

    #[test]
    fn formats() {
        let sp = json!({"appId": "a1", "password": "p", "tenant": "t"});
        assert_eq!(out(sp.clone(), Format::Tsv, Some("password")), "p");
        assert_eq!(out(sp.clone(), Format::Tsv, None), "a1\tp\tt");
        let list = json!([{"appId": "a1", "displayName": "ci"}, {"appId": "b22", "displayName": "x"}]);
        assert_eq!(
            out(list.clone(), Format::Table, None),
            "appId  displayName\n-----  -----------\na1     ci\nb22    x"
        );
        assert_eq!(out(list.clone(), Format::Tsv, Some("[].displayName")), "ci\nx");
        assert!(out(list, Format::Yaml, None).contains("displayName: ci"));
        assert_eq!(out(sp, Format::None, None), "");
    }

    #[test]
    fn a_plain_list_is_a_result_column_as_az_prints_it() {
        let tags = json!(["v1", "latest"]);
        assert_eq!(out(tags, Format::Table, None), "Result\n------\nv1\nlatest");
        assert_eq!(out(json!("x"), Format::Table, None), "Result\n------\nx");
        assert_eq!(out(json!([]), Format::Table, None), "");
    }
}
