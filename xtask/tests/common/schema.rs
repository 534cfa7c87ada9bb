//! The JSON Schemas in `docs/schemas/`, checked with a real validator: what the pipeline writes
//! follows its schema (`assert_valid`), wherever a test has the real output at hand.
use serde_json::Value;

use super::workspace_root;

/// `docs/schemas/<name>.schema.json`.
pub fn schema(name: &str) -> Value {
    let path = workspace_root().join(format!("docs/schemas/{name}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Why `instance` does not follow the schema `name`, one line per error (none: it does).
pub fn errors(name: &str, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&schema(name)).unwrap_or_else(|e| panic!("{name}.schema.json: {e}"));
    validator.iter_errors(instance).map(|e| format!("at `{}`: {e}", e.instance_path())).collect()
}

#[track_caller]
pub fn assert_valid(name: &str, instance: &Value) {
    let errors = errors(name, instance);
    assert!(errors.is_empty(), "{name}.schema.json refuses {instance:#}:\n{}", errors.join("\n"));
}
