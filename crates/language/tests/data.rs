//! Stan JSON loading: numbers, non-finite strings, rectangular arrays, errors, and round trips.

use proptest::prelude::*;
use refinestat_language::{Data, DataError, DataValue};

fn load(text: &str) -> Data {
    Data::from_json_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn load_err(text: &str) -> String {
    match Data::from_json_str(text) {
        Ok(d) => panic!("expected an error for {text}, got {d:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn scalars_ints_and_reals() {
    let d = load(r#"{"N": 3, "x": 1.5, "z": -2, "w": 2.0}"#);
    assert_eq!(d.get("N"), Some(&DataValue::scalar(3.0, true)));
    assert_eq!(d.get("x"), Some(&DataValue::scalar(1.5, false)));
    assert_eq!(d.get("z"), Some(&DataValue::scalar(-2.0, true)));
    // `2.0` is written as a real, so it is not an int.
    assert_eq!(d.get("w"), Some(&DataValue::scalar(2.0, false)));
}

#[test]
fn nested_arrays_are_row_major() {
    let d = load(r#"{"m": [[1, 2, 3], [4, 5, 6]], "a": [[[1], [2]], [[3], [4.5]]]}"#);
    let m = d.get("m").unwrap();
    assert_eq!(m.dims, vec![2, 3]);
    assert_eq!(m.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert!(m.all_int);
    let a = d.get("a").unwrap();
    assert_eq!(a.dims, vec![2, 2, 1]);
    assert_eq!(a.values, vec![1.0, 2.0, 3.0, 4.5]);
    assert!(!a.all_int);
}

#[test]
fn non_finite_strings() {
    let d = load(r#"{"v": ["NaN", "inf", "-inf", "Infinity", "-Infinity", 1]}"#);
    let v = &d.get("v").unwrap().values;
    assert!(v[0].is_nan());
    assert_eq!(
        v[1..5],
        [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY
        ]
    );
    assert!(!d.get("v").unwrap().all_int);
}

#[test]
fn empty_arrays() {
    let d = load(r#"{"e": [], "e2": [[], []]}"#);
    assert_eq!(d.get("e").unwrap().dims, vec![0]);
    assert!(d.get("e").unwrap().values.is_empty());
    assert_eq!(d.get("e2").unwrap().dims, vec![2, 0]);
}

#[test]
fn errors_name_the_variable() {
    let e = load_err(r#"{"y": [[1, 2], [3]]}"#);
    assert!(e.contains("`y`") && e.contains("ragged"), "{e}");
    let e = load_err(r#"{"y": [1, [2]]}"#);
    assert!(e.contains("`y`") && e.contains("ragged"), "{e}");
    let e = load_err(r#"{"flag": true}"#);
    assert!(e.contains("`flag`") && e.contains("boolean"), "{e}");
    let e = load_err(r#"{"s": "hello"}"#);
    assert!(e.contains("`s`") && e.contains("hello"), "{e}");
    let e = load_err(r#"{"n": null}"#);
    assert!(e.contains("`n`"), "{e}");
    let e = load_err(r#"{"o": {"a": 1}}"#);
    assert!(e.contains("`o`"), "{e}");
    assert!(matches!(
        Data::from_json_str("[1, 2]"),
        Err(DataError::Json(_))
    ));
    assert!(matches!(
        Data::from_json_str("{\"a\": "),
        Err(DataError::Json(_))
    ));
}

#[test]
fn writes_stan_json() {
    let d = load(
        r#"{"N": 2, "y": [1.5, "NaN"], "m": [[1, 2], [3, 4]], "r": 3.0, "i": ["inf", "-inf"]}"#,
    );
    let text = d.to_json_string();
    assert!(text.contains("\"N\": 2,"), "{text}");
    assert!(text.contains("\"y\": [1.5, \"NaN\"]"), "{text}");
    assert!(text.contains("\"m\": [[1, 2], [3, 4]]"), "{text}");
    assert!(text.contains("\"r\": 3.0"), "{text}");
    assert!(text.contains("\"i\": [\"inf\", \"-inf\"]"), "{text}");
    let back = Data::from_json_str(&text).unwrap();
    assert_eq!(back.to_json_string(), text);
    assert!(back.get("y").unwrap().values[1].is_nan());
}

#[test]
fn benchmark_datasets_load() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets");
    let mut seen = 0;
    // The five benchmark datasets are the JSON files at the top; `real/` holds the real-data
    // benchmark (its own test).
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_none_or(|e| e != "json") {
            continue;
        }
        seen += 1;
        let d = Data::from_path(&entry.path()).unwrap();
        assert!(!d.vars.is_empty());
        let again = Data::from_json_str(&d.to_json_string()).unwrap();
        assert_eq!(again, d, "{}", entry.path().display());
    }
    assert_eq!(seen, 5);
    let glm = Data::from_path(std::path::Path::new(&format!("{dir}/glm.json"))).unwrap();
    assert_eq!(glm.get("C").unwrap().dims, vec![40]);
    assert!(glm.get("C").unwrap().all_int);
    assert!(!glm.get("year").unwrap().all_int);
}

fn value_strategy() -> impl Strategy<Value = DataValue> {
    let dims = prop::collection::vec(0usize..4, 0..3);
    (dims, any::<bool>()).prop_flat_map(|(dims, ints)| {
        let n: usize = dims.iter().product();
        let elem = if ints {
            (-1000i64..1000).prop_map(|i| i as f64).boxed()
        } else {
            prop_oneof![
                any::<f64>().prop_filter("finite or special", |x| !x.is_nan()),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(2.0),
            ]
            .boxed()
        };
        prop::collection::vec(elem, n).prop_map(move |values| {
            let dims = dims.clone();
            // A JSON array with a zero size keeps only the dimensions up to it.
            let cut = dims
                .iter()
                .position(|&d| d == 0)
                .map_or(dims.len(), |p| p + 1);
            let all_int = ints || values.is_empty();
            DataValue::array(dims[..cut].to_vec(), values, all_int)
        })
    })
}

proptest! {
    #[test]
    fn round_trip(vars in prop::collection::btree_map("[a-z][a-z0-9_]{0,5}", value_strategy(), 0..4)) {
        let data = Data { vars };
        let text = data.to_json_string();
        let back = Data::from_json_str(&text).unwrap();
        prop_assert_eq!(back.vars.len(), data.vars.len());
        for (name, v) in &data.vars {
            let w = &back.vars[name];
            prop_assert_eq!(&w.dims, &v.dims);
            prop_assert_eq!(w.all_int, v.all_int);
            prop_assert_eq!(w.values.len(), v.values.len());
            for (a, b) in v.values.iter().zip(&w.values) {
                prop_assert!(a == b || (a.is_nan() && b.is_nan()), "{} vs {}", a, b);
            }
        }
    }
}

#[test]
fn variable_order_follows_the_file() {
    let json = r#"{"N": 3, "speed": [4, 7, 8], "dist": [2, 4, 16]}"#;
    assert_eq!(Data::variable_order(json), ["N", "speed", "dist"]);
    // Data itself keeps variables by name.
    let data = Data::from_json_str(json).unwrap();
    let names: Vec<&String> = data.vars.keys().collect();
    assert_eq!(names, ["N", "dist", "speed"]);
    let csv = "speed,group,dist\n4,a,2\n7,b,4\n8,a,16\n";
    assert_eq!(
        Data::variable_order(csv),
        ["N", "speed", "J_group", "group", "dist"]
    );
    assert!(Data::variable_order("{not json").is_empty());
}
