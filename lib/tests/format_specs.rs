//! exp formats numbers in templates exactly as Python's `format()` does:
//! every line of `data/format_specs.tsv` (written by Python 3.11 with
//! `data/format_specs.py`) is a value, a spec and Python's result, or
//! `!error` where Python raises.

use exp::format_spec::Spec;

#[test]
fn every_golden_value_of_python_is_matched() {
    let table = include_str!("data/format_specs.tsv");
    let mut wrong = Vec::new();
    for line in table.lines() {
        let mut fields = line.splitn(3, '\t');
        let (value, spec, python) = (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
        let value: serde_json::Value = serde_json::from_str(value).unwrap();
        let ours = Spec::parse(spec).and_then(|spec| spec.format(&value));
        let same = match (&ours, python) {
            (Err(_), "!error") => true,
            (Ok(text), python) => text == python,
            (Err(_), _) => false,
        };
        if !same {
            wrong.push(format!("format({value}, {spec:?}): Python {python:?}, exp {ours:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} differ:\n{}", wrong.len(), table.lines().count(), wrong.join("\n"));
}
