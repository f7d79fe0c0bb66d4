//! Postgres values as JSON, decoded generically from their text form (the simple query
//! protocol returns every value as text): integers and finite floats become numbers, a NUMERIC
//! becomes a number when a float holds it exactly and stays exact text otherwise, booleans
//! become booleans, JSON and JSONB are parsed, NULL is null, and everything else (timestamps,
//! UUIDs, intervals, arrays, enums) stays the text Postgres printed.

use serde_json::{Number, Value};

/// Significant digits a float holds exactly.
const EXACT_DIGITS: usize = 15;

/// The JSON value of one column: `type_name` as sqlx names it (`INT8`, `NUMERIC`,
/// `TIMESTAMPTZ`), `text` the value's text form, or None for NULL.
pub fn to_json(type_name: &str, text: Option<&str>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    let parsed = match type_name {
        "BOOL" => match text {
            "t" => Some(Value::Bool(true)),
            "f" => Some(Value::Bool(false)),
            _ => None,
        },
        "INT2" | "INT4" | "INT8" | "OID" => text.parse::<i64>().ok().map(Value::from),
        "FLOAT4" | "FLOAT8" => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        "NUMERIC" => numeric(text),
        "JSON" | "JSONB" => serde_json::from_str(text).ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_string()))
}

/// A NUMERIC as a number when that loses nothing.
fn numeric(text: &str) -> Option<Value> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(Value::from(n));
    }
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if digits > EXACT_DIGITS {
        return None;
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// The text of a key or state column's value (a string as is, anything else as JSON).
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_booleans_and_json_are_typed() {
        assert_eq!(to_json("INT8", Some("42")), json!(42));
        assert_eq!(to_json("INT2", Some("-7")), json!(-7));
        assert_eq!(to_json("FLOAT8", Some("1.5")), json!(1.5));
        assert_eq!(to_json("NUMERIC", Some("12.25")), json!(12.25));
        assert_eq!(to_json("NUMERIC", Some("3")), json!(3));
        assert_eq!(to_json("BOOL", Some("t")), json!(true));
        assert_eq!(to_json("BOOL", Some("f")), json!(false));
        assert_eq!(to_json("JSONB", Some(r#"{"a": [1]}"#)), json!({"a": [1]}));
        assert_eq!(to_json("TEXT", None), Value::Null);
        assert_eq!(to_json("INT4", None), Value::Null);
    }

    #[test]
    fn what_a_number_cannot_hold_stays_exact_text() {
        assert_eq!(
            to_json("NUMERIC", Some("123456789012345678901.5")),
            json!("123456789012345678901.5")
        );
        assert_eq!(to_json("NUMERIC", Some("NaN")), json!("NaN"));
        assert_eq!(to_json("FLOAT8", Some("Infinity")), json!("Infinity"));
        assert_eq!(
            to_json("TIMESTAMPTZ", Some("2024-05-01 12:00:00+00")),
            json!("2024-05-01 12:00:00+00")
        );
        assert_eq!(to_json("TEXT", Some("42")), json!("42"));
        assert_eq!(to_json("INT8[]", Some("{1,2}")), json!("{1,2}"));
        assert_eq!(to_json("JSON", Some("{broken")), json!("{broken"));
    }

    #[test]
    fn key_text_of_any_value() {
        assert_eq!(text_of(&json!("k-1")).as_deref(), Some("k-1"));
        assert_eq!(text_of(&json!(17)).as_deref(), Some("17"));
        assert_eq!(text_of(&Value::Null), None);
    }
}
