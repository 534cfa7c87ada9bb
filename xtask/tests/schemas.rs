//! The JSON Schemas of the files the pipeline writes for other tools (`docs/schemas/`): each is
//! valid against its meta-schema, versioned, self-contained, and follows what the pipeline
//! really writes: its examples (`docs/schemas/examples/`, written by the pipeline's own types in
//! its unit tests), a real package's `manifest.json` here, and every part's result in
//! `parts.rs`'s real release.
mod common;
use common::{schema::*, *};
use serde_json::Value;
use std::process::Command;

/// Every schema, `docs/schemas/<name>.schema.json`, with its examples (if any)
/// `docs/schemas/examples/<name>.json` and `<name>-*.json`: adding one is a line here.
const SCHEMAS: &[&str] = &["part", "manifest", "plan", "notes"];

fn examples(name: &str) -> Vec<(String, Value)> {
    let dir = workspace_root().join("docs/schemas/examples");
    let mut found: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|file| file == &format!("{name}.json") || file.starts_with(&format!("{name}-")))
        .map(|file| {
            let value = serde_json::from_str(&std::fs::read_to_string(dir.join(&file)).unwrap()).unwrap();
            (file, value)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Each `$ref` in `value`, wherever it is.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            out.extend(map.get("$ref").and_then(Value::as_str).map(str::to_owned));
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_schema_is_valid_versioned_self_contained_and_follows_its_examples() {
    let mut defs: std::collections::BTreeMap<String, (String, Value)> = Default::default();
    for name in SCHEMAS {
        let schema = schema(name);
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{name}.schema.json is no valid JSON Schema: {e}");
        }
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        let id = schema["$id"].as_str().unwrap_or_default();
        let version = id
            .strip_prefix(&format!("https://release-pipeline.dev/schemas/{name}/v"))
            .and_then(|v| v.strip_suffix(".json"))
            .unwrap_or_default();
        assert!(version.parse::<u32>().is_ok(), "{name}.schema.json's $id names no version: {id:?}");
        let description = schema["description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with(&format!("Version {version}.")),
            "{name}: the description starts with its version"
        );
        // Self-contained: every reference is into the schema itself.
        let mut found = Vec::new();
        refs(&schema, &mut found);
        for reference in found {
            assert!(reference.starts_with("#/$defs/"), "{name}.schema.json refers outside itself: {reference}");
        }
        // One vocabulary: a name two schemas define is the same strings in both.
        for (def, value) in schema["$defs"].as_object().into_iter().flatten() {
            let strings = serde_json::json!({"type": value["type"], "pattern": value["pattern"]});
            match defs.get(def) {
                Some((first, same)) => assert_eq!(same, &strings, "$defs/{def} differs in {first} and {name}"),
                None => drop(defs.insert(def.clone(), (name.to_string(), strings))),
            }
        }
        for (file, example) in examples(name) {
            let errors = errors(name, &example);
            assert!(errors.is_empty(), "{file} does not follow {name}.schema.json:\n{}", errors.join("\n"));
        }
    }
}

/// The schemas are no formality: what the pipeline would not write, they refuse.
#[test]
fn the_schemas_refuse_what_the_pipeline_does_not_write() {
    let example = |name: &str| examples(name).remove(0).1;
    let check = |name: &str, edit: &dyn Fn(&mut Value), why: &str| {
        let mut example = example(name);
        edit(&mut example);
        let errors = errors(name, &example);
        assert!(errors.iter().any(|e| e.contains(why)), "{name}: expected {why:?} in {errors:?}");
    };
    check("part", &|p| p["format"] = 2.into(), "Additional properties are not allowed ('format' was unexpected)");
    check("part", &|p| p["kind"] = "build-only".into(), "at `/kind`");
    check("part", &|p| p["package"]["sha256"] = "AB".repeat(32).into(), "at `/package/sha256`");
    check("part", &|p| p["images"][0]["digest"] = "sha256:abc".into(), "at `/images/0/digest`");
    check("part", &|p| p["version"] = "1.2".into(), "at `/version`");
    check("part", &|p| p["target"] = "../x".into(), "at `/target`");
    check("part", &|p| drop(p.as_object_mut().unwrap().remove("commit")), "\"commit\" is a required property");
    check("manifest", &|m| m["commit"] = "c0ffee".into(), "at `/commit`");
    check("manifest", &|m| m["platform"] = "amd64".into(), "at `/platform`");
    check("manifest", &|m| drop(m.as_object_mut().unwrap().remove("sha256")), "\"sha256\" is a required property");
    check("notes", &|n| n["sections"][0]["group"] = "chores".into(), "at `/sections/0/group`");
    check("notes", &|n| n["sections"][0]["entries"][0]["commit"] = "abc".into(), "at `/sections/0/entries/0/commit`");
    check("notes", &|n| n["version"] = "1.3".into(), "at `/version`");
    check("notes", &|n| n["sections"][0]["entries"] = serde_json::json!([]), "at `/sections/0/entries`");
    // What the readers accept, the schemas accept: a part of a pipeline before services, a
    // package built where there was no commit, a pre-release with build metadata.
    let mut old = example("part");
    old.as_object_mut().unwrap().remove("service");
    assert_valid("part", &old);
    let mut unknown = example("manifest");
    unknown["commit"] = "unknown".into();
    unknown["version"] = "1.2.4-dev.3+build.7".into();
    assert_valid("manifest", &unknown);
}

/// A real `cargo xtask dist` on a scratch copy of this workspace: the manifest in the package
/// follows its schema.
#[test]
fn a_real_packages_manifest_follows_its_schema() {
    let ws = scratch_workspace();
    ws.tag("1.2.3");
    ws.commit("one more");
    let target = "x86_64-unknown-linux-musl";
    assert_ok(&ws.xtask_shared(&["dist", "--target", target]));
    let package = ws.path().join(format!("dist/service-1.2.4-dev.1-{target}.tar.gz"));
    let out = Command::new("tar").arg("-xzOf").arg(&package).arg("manifest.json").output().unwrap();
    assert_ok(&out);
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((manifest["target"].as_str(), manifest["commit"].as_str()), (Some(target), Some(ws.head().as_str())));
    assert_valid("manifest", &manifest);
}
