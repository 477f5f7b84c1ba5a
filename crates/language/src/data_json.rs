//! Stan JSON reading into [`Data`] and writing back out.
//!
//! Stan JSON is an object of variables; each value is a number, one of the strings `"NaN"`,
//! `"inf"`, `"-inf"`, `"Infinity"`, `"-Infinity"`, or a rectangular nested array of those. As in
//! CmdStan, the bare (unquoted) tokens `NaN`, `Infinity` and `-Infinity` are numbers too (Python's
//! `json.dump` writes them).
//! Every error names the variable it is about; nothing here panics on bad input.

use crate::data::{Data, DataError, DataValue};
use serde_json::Value;

pub(crate) fn parse(text: &str) -> Result<Data, DataError> {
    let text = quote_bare_non_finite(text);
    let root: Value = serde_json::from_str(&text).map_err(|e| DataError::Json(e.to_string()))?;
    let Value::Object(map) = root else {
        return Err(DataError::Json(
            "the top level must be an object of variables, like {\"N\": 3}".into(),
        ));
    };
    let mut data = Data::default();
    for (name, value) in map {
        let parsed = parse_value(&value).map_err(|message| DataError::Value {
            name: name.clone(),
            message,
        })?;
        data.vars.insert(name, parsed);
    }
    Ok(data)
}

/// `text` with the bare tokens `NaN`, `Infinity` and `-Infinity` outside strings quoted, so that
/// serde_json reads them as the strings [`parse_number`] accepts. Borrowed when there are none.
fn quote_bare_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let at_word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let token = TOKENS.iter().find(|t| {
            bytes[i..].starts_with(t.as_bytes())
                && !bytes
                    .get(i + t.len())
                    .is_some_and(|c| c.is_ascii_alphanumeric())
        });
        match token {
            Some(t) if at_word_start => {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                o.push_str(&text[copied..i]);
                o.push('"');
                o.push_str(t);
                o.push('"');
                i += t.len();
                copied = i;
            }
            _ => i += 1,
        }
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

/// One number of a value: its float and whether it was written as an integer literal.
fn parse_number(value: &Value) -> Result<(f64, bool), String> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok((i as f64, true))
            } else if let Some(u) = n.as_u64() {
                // Beyond i64: no Stan int can hold it, so it is a real.
                Ok((u as f64, false))
            } else {
                n.as_f64()
                    .map(|x| (x, false))
                    .ok_or_else(|| format!("number {n} is not representable"))
            }
        }
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" | "NAN" => Ok((f64::NAN, false)),
            "inf" | "Inf" | "+inf" | "+Inf" | "Infinity" | "+Infinity" | "infinity" => {
                Ok((f64::INFINITY, false))
            }
            "-inf" | "-Inf" | "-Infinity" | "-infinity" => Ok((f64::NEG_INFINITY, false)),
            other => Err(format!(
                "the string \"{other}\" is not a number (only \"NaN\", \"inf\", \"-inf\", \
                 \"Infinity\" and \"-Infinity\" are allowed)"
            )),
        },
        Value::Bool(b) => Err(format!("{b} is a boolean; Stan data holds numbers only")),
        Value::Null => Err("null is not a number".into()),
        Value::Object(_) => Err("nested objects are not Stan data".into()),
        Value::Array(_) => Err("unexpected array".into()),
    }
}

fn parse_value(value: &Value) -> Result<DataValue, String> {
    let dims = shape_of(value, &mut Vec::new())?;
    let mut values = Vec::with_capacity(dims.iter().product());
    let mut all_int = true;
    collect(value, &mut values, &mut all_int)?;
    Ok(DataValue {
        dims,
        values,
        all_int,
    })
}

/// The dimensions of a nested array, checking that it is rectangular. `path` holds the indexes
/// (1-based) leading to `value`, for error messages.
fn shape_of(value: &Value, path: &mut Vec<usize>) -> Result<Vec<usize>, String> {
    let Value::Array(items) = value else {
        return Ok(vec![]);
    };
    let mut inner: Option<Vec<usize>> = None;
    for (i, item) in items.iter().enumerate() {
        path.push(i + 1);
        let dims = shape_of(item, path)?;
        path.pop();
        match &inner {
            None => inner = Some(dims),
            Some(first) if *first != dims => {
                let at = |k: usize| {
                    let mut p = path.clone();
                    p.push(k);
                    p.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                return Err(format!(
                    "ragged array: element [{}] has shape {} but element [{}] has shape {}",
                    at(i + 1),
                    show_dims(&dims),
                    at(1),
                    show_dims(first)
                ));
            }
            Some(_) => {}
        }
    }
    let mut dims = vec![items.len()];
    dims.extend(inner.unwrap_or_default());
    Ok(dims)
}

fn show_dims(dims: &[usize]) -> String {
    if dims.is_empty() {
        "scalar".into()
    } else {
        format!(
            "[{}]",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn collect(value: &Value, out: &mut Vec<f64>, all_int: &mut bool) -> Result<(), String> {
    match value {
        Value::Array(items) => {
            for item in items {
                collect(item, out, all_int)?;
            }
            Ok(())
        }
        other => {
            let (x, is_int) = parse_number(other)?;
            *all_int &= is_int;
            out.push(x);
            Ok(())
        }
    }
}

/// Stan JSON text for `data`: one variable per line, ints without a decimal point, non-finite
/// numbers as `"NaN"`, `"inf"`, `"-inf"`.
pub(crate) fn write(data: &Data) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in data.vars.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        out.push_str(&serde_json::Value::String(name.clone()).to_string());
        out.push_str(": ");
        write_nested(&mut out, &value.dims, &value.values, value.all_int);
    }
    if !data.vars.is_empty() {
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

fn write_nested(out: &mut String, dims: &[usize], values: &[f64], all_int: bool) {
    match dims.split_first() {
        None => write_number(out, values.first().copied().unwrap_or(f64::NAN), all_int),
        Some((&n, rest)) => {
            let stride: usize = rest.iter().product();
            out.push('[');
            for k in 0..n {
                if k > 0 {
                    out.push_str(", ");
                }
                let start = (k * stride).min(values.len());
                let end = ((k + 1) * stride).min(values.len());
                write_nested(out, rest, &values[start..end], all_int);
            }
            out.push(']');
        }
    }
}

fn write_number(out: &mut String, x: f64, as_int: bool) {
    use std::fmt::Write;
    if x.is_nan() {
        out.push_str("\"NaN\"");
    } else if x == f64::INFINITY {
        out.push_str("\"inf\"");
    } else if x == f64::NEG_INFINITY {
        out.push_str("\"-inf\"");
    } else if as_int && x.fract() == 0.0 && x.abs() < 9.0e15 {
        let _ = write!(out, "{}", x as i64);
    } else {
        // Debug prints the shortest text that reads back to the same float, with a `.0` on
        // integral values so that they stay reals.
        let _ = write!(out, "{x:?}");
    }
}

/// The top-level keys of a JSON object in the order the text lists them (empty when the text is
/// not a JSON object).
pub(crate) fn key_order(text: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_str::<Keys>(text)
        .map(|k| k.0)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_non_finite_tokens_read_as_stan_reads_them() {
        let d = parse(r#"{"x": [NaN, Infinity, -Infinity, 1.5], "s": NaN, "t": "NaN"}"#).unwrap();
        let x = &d.get("x").unwrap().values;
        assert!(x[0].is_nan());
        assert_eq!(&x[1..], &[f64::INFINITY, f64::NEG_INFINITY, 1.5]);
        assert!(d.get("s").unwrap().values[0].is_nan());
        assert!(d.get("t").unwrap().values[0].is_nan());
    }

    #[test]
    fn only_bare_tokens_outside_strings_are_quoted() {
        assert!(matches!(
            quote_bare_non_finite(r#"{"NaN": 1}"#),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            quote_bare_non_finite(r#"{"a\"NaN": [NaN,-Infinity]}"#),
            r#"{"a\"NaN": ["NaN","-Infinity"]}"#
        );
        // A word that merely contains a token is left alone, and stays invalid JSON.
        assert_eq!(quote_bare_non_finite("[NaNa, xNaN]"), "[NaNa, xNaN]");
        assert!(parse(r#"{"x": NaNa}"#).is_err());
        // Multi-byte text outside strings is an error, not a panic.
        assert!(parse("{\"x\": é NaN}").is_err());
    }
}
