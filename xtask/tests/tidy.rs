//! Keeps the tree honest: each invariant ARCHITECTURE.md states about the code's shape is checked
//! here (the behavioural ones by the tests it names).
mod common;
use common::{stderr, stdout, workspace_root, xtask_cmd};
use std::path::PathBuf;

/// The pipeline's crates: the library, and its pure half (the plan).
const CRATES: [&str; 2] = ["release-pipeline", "release-pipeline-plan"];

/// A crate's source files, each named by its path from the crate's `src/`.
fn crate_sources(krate: &str) -> Vec<(String, String)> {
    let src = workspace_root().join(krate).join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path: PathBuf = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let name = path.strip_prefix(&src).unwrap().display().to_string();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Every source file of the pipeline's crates.
fn sources() -> Vec<(String, String)> {
    CRATES.iter().flat_map(|krate| crate_sources(krate)).collect()
}

/// The code of a file without its test module (`#[cfg(test)]`, `#[cfg(all(test, unix))]`…):
/// tests may spell anything.
fn non_test(text: &str) -> &str {
    let mut end = text.len();
    for (at, _) in text.match_indices("\nmod tests {") {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let attribute = &text[line_start..at];
        if attribute.starts_with("#[cfg(") && attribute.contains("test") {
            end = end.min(line_start);
        }
    }
    &text[..end]
}

#[test]
fn main_only_dispatches() {
    let lib = std::fs::read_to_string(workspace_root().join("release-pipeline/src/lib.rs")).unwrap();
    let code = lib.lines().filter(|l| !l.trim_start().starts_with("//"));
    let fns: Vec<&str> = code.filter(|l| l.trim_start().starts_with("fn ") || l.contains(" fn ")).collect();
    // `main` (the xtask's), `run` (an xtask's own command hands it its arguments), `tool` (the
    // installed `release-pipeline` binary's).
    assert_eq!(
        fns,
        ["pub fn main() -> ExitCode {", "pub fn run<I>(args: I) -> ExitCode", "pub fn tool() -> ExitCode {"],
        "the library's lib.rs only dispatches"
    );
    // The xtask binary is the thin caller another workspace copies (README: adopting), and sends
    // `bench`, this repository's own command, to its own module: when the first argument is
    // `bench`, `bench::main()`; for anything else, `release_pipeline::main()`. Nothing more.
    let main = std::fs::read_to_string(workspace_root().join("xtask/src/main.rs")).unwrap();
    let code: Vec<&str> = main.lines().filter(|l| !l.trim_start().starts_with("//") && !l.is_empty()).collect();
    assert_eq!(
        code,
        [
            "mod bench;",
            "fn main() -> std::process::ExitCode {",
            "    match std::env::args_os().nth(1) {",
            "        Some(command) if command == \"bench\" => bench::main(),",
            "        _ => release_pipeline::main(),",
            "    }",
            "}",
        ],
        "xtask's main.rs sends `bench` to bench.rs and everything else to the library, nothing else"
    );
}

/// A file's code with its comments and literals blanked (each of their bytes a space or a
/// newline, so offsets hold), and its string literals (raw and byte strings too), each with its
/// offset and its value, escapes read. Char literals are told from lifetimes (`'"'`, `'a`).
struct Lexed {
    code: String,
    strings: Vec<(usize, String)>,
}

fn lex(text: &str) -> Lexed {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or('\0', |(_, c)| *c);
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut code = String::with_capacity(text.len());
    let blank = |code: &mut String, from: usize, to: usize| {
        for &(_, c) in &chars[from..to] {
            code.extend(std::iter::repeat_n(if c == '\n' { '\n' } else { ' ' }, c.len_utf8()));
        }
    };
    let mut strings = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (at(i), at(i + 1));
        let token_start = i == 0 || !ident(at(i - 1));
        let byte_string = usize::from(c == 'b');
        let start = i;
        if c == '/' && next == '/' {
            while i < chars.len() && at(i) != '\n' {
                i += 1;
            }
        } else if c == '/' && next == '*' {
            let mut depth = 0;
            loop {
                match (at(i), at(i + 1)) {
                    ('/', '*') => (depth, i) = (depth + 1, i + 2),
                    ('*', '/') => (depth, i) = (depth - 1, i + 2),
                    ('\0', _) => break,
                    _ => i += 1,
                }
                if depth == 0 {
                    break;
                }
            }
        } else if token_start && (c == 'r' || (c == 'b' && next == 'r')) && matches!(at(i + 1 + byte_string), '"' | '#')
        {
            i += 1 + byte_string;
            let hashes = (i..).take_while(|&j| at(j) == '#').count();
            i += hashes + 1; // the `"`
            let from = i;
            while i < chars.len() && !(at(i) == '"' && (1..=hashes).all(|h| at(i + h) == '#')) {
                i += 1;
            }
            strings.push((chars[start].0, chars[from..i].iter().map(|(_, c)| c).collect()));
            i += 1 + hashes;
        } else if c == '"' || (token_start && c == 'b' && next == '"') {
            i += 1 + byte_string;
            let mut value = String::new();
            while i < chars.len() && at(i) != '"' {
                if at(i) == '\\' {
                    i += 1;
                    match at(i) {
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        '\n' => {
                            while at(i + 1).is_whitespace() {
                                i += 1;
                            }
                        }
                        other => value.push(other),
                    }
                } else {
                    value.push(at(i));
                }
                i += 1;
            }
            strings.push((chars[start].0, value));
            i += 1;
        } else if c == '\'' && next == '\\' {
            i += 3; // `'`, `\` and the escaped character: `'\''` too
            while i < chars.len() && at(i) != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '\'' && at(i + 2) == '\'' {
            i += 3;
        } else {
            code.push(c);
            i += 1;
            continue;
        }
        blank(&mut code, start, i.min(chars.len()));
    }
    Lexed { code, strings }
}

/// This workspace's own names, from `cargo metadata`, each with what it is: its packages, their
/// library and binary targets, the members' directories and, when the configuration sets them,
/// its contexts' directories (this one sets none: its contexts are the contract's defaults,
/// `docker` and `rpi-docker`, which `config.rs` writes because docs/config.md does). Test, bench,
/// example and build-script targets are left out: they are this workspace's tests of the
/// pipeline, named after its commands (`dist`, `version`, `plan`), never what a release builds.
///
/// Two kinds of package are not this workspace's own but every adopter's, and are left out:
/// - the pipeline itself (the package of `release-pipeline/src`): its name is its identity, the
///   same in every workspace (the `[workspace.metadata.release-pipeline]` table, the
///   `org.release-pipeline.*` labels, its temporary directories);
/// - its callers (the packages that depend on it): the adoption contract gives every workspace
///   one, `xtask`, run as `cargo xtask` through the alias and never a service (docs/config.md:
///   "the workspace's single binary package other than the xtask"); every hint the pipeline gives
///   says `cargo xtask`.
fn workspace_names() -> Vec<(String, String)> {
    let out = std::process::Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata: {}", stderr(&out));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let root = workspace_root();
    let dir_of = |package: &serde_json::Value| {
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
        manifest.parent().unwrap().strip_prefix(&root).unwrap().display().to_string()
    };
    let packages = metadata["packages"].as_array().unwrap();
    let pipeline = packages.iter().find(|p| dir_of(p) == "release-pipeline").expect("the pipeline's package");
    let pipeline_name = pipeline["name"].as_str().unwrap();
    let calls_the_pipeline =
        |p: &serde_json::Value| p["dependencies"].as_array().unwrap().iter().any(|d| d["name"] == pipeline_name);
    let mut names = Vec::new();
    for package in packages.iter().filter(|p| p["name"] != pipeline_name && !calls_the_pipeline(p)) {
        let name = package["name"].as_str().unwrap();
        names.push((name.to_owned(), format!("the package {name}")));
        names.push((dir_of(package), format!("the directory of the package {name}")));
        for target in package["targets"].as_array().unwrap() {
            let kinds: Vec<&str> = target["kind"].as_array().unwrap().iter().filter_map(|k| k.as_str()).collect();
            if kinds.iter().any(|k| ["bin", "lib", "rlib", "dylib", "cdylib", "staticlib", "proc-macro"].contains(k)) {
                let target_name = target["name"].as_str().unwrap();
                names.push((target_name.to_owned(), format!("the {} target {target_name} of {name}", kinds.join("/"))));
            }
        }
    }
    let contexts = metadata["metadata"][pipeline_name]["context"].as_array().cloned().unwrap_or_default();
    for context in contexts {
        let dir = context["dir"].as_str().unwrap();
        names.push((dir.to_owned(), format!("the configured context directory {dir}")));
    }
    // One entry a name, saying everything it names.
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, what) in names {
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, all)) => *all = format!("{all}, {what}"),
            None => merged.push((name, what)),
        }
    }
    merged
}

/// Every key of the configuration contract (docs/config.md's TOML): the tables' and the keys'.
fn contract_keys() -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(workspace_root().join("docs/config.md")).unwrap();
    let toml = text.split("```toml\n").nth(1).unwrap().split("\n```").next().unwrap();
    fn walk(table: &dyn toml_edit::TableLike, keys: &mut std::collections::BTreeSet<String>) {
        for (key, value) in table.iter() {
            keys.insert(key.to_owned());
            if let Some(table) = value.as_table_like() {
                walk(table, keys);
            } else if let Some(tables) = value.as_array_of_tables() {
                tables.iter().for_each(|t| walk(t, keys));
            } else if let Some(array) = value.as_array() {
                array.iter().filter_map(|v| v.as_inline_table()).for_each(|t| walk(t, keys));
            }
        }
    }
    let mut keys = std::collections::BTreeSet::new();
    walk(toml.parse::<toml_edit::DocumentMut>().unwrap().as_table(), &mut keys);
    keys
}

/// Whether a string literal uses `name` as a name: the literal is the name (a value, an argv
/// element); a path in it has the name as a component (`{name}/`, `bin/{name}`, `acme/{name}`);
/// the literal or one of its words starts with the name and `-` or `_` (a file or image name
/// made from it: `{name}-{version}.tar.gz`); or, in a command line (`cmd!`), a word is the name
/// (an argv element). A word of prose that is the name is not a use: a message speaks of "the
/// service" whatever the workspace calls its own.
fn uses_name(literal: &str, command_line: bool, name: &str) -> bool {
    let path_has = |unit: &str| {
        let parts: Vec<&str> = unit.split('/').collect();
        let wanted: Vec<&str> = name.split('/').collect();
        unit.contains('/') && parts.windows(wanted.len()).any(|w| w == wanted)
    };
    let prefixed = |unit: &str| {
        unit.strip_prefix(name).is_some_and(|rest| rest.len() > 1 && (rest.starts_with('-') || rest.starts_with('_')))
    };
    let quoted = |c: char| "`'\"()[],;:.".contains(c);
    let named_in = |unit: &str| path_has(unit) || unit.split('/').any(prefixed);
    literal == name
        || named_in(literal)
        || literal
            .split_whitespace()
            .map(|w| w.trim_matches(quoted))
            .any(|w| named_in(w) || (command_line && w == name))
}

/// Whether the literal at `offset` is the command line of a `cmd!(sh, "…")`.
fn in_command_line(code: &str, offset: usize) -> bool {
    let Some(before) = code[..offset].trim_end().strip_suffix(',') else { return false };
    before.trim_end().trim_end_matches(|c: char| c.is_alphanumeric() || c == '_').trim_end().ends_with("cmd!(")
}

/// ARCHITECTURE.md: no crate, binary or directory name of this workspace is written in the
/// pipeline's code; every name comes from a `Service` (`services.rs`). The names are this
/// workspace's own, read from `cargo metadata` (`workspace_names`), and every non-test line of
/// the pipeline is read, no file left out.
///
/// A key of the configuration contract is the pipeline's own word even where a workspace's name
/// is spelled the same (this one's payload is `service`; the contract has `[[service]]` and a
/// context's `service`): `config.rs`, which reads the contract's keys, may write a key alone as
/// a literal (`"service"` in its lists of known keys). Anywhere else, and in any other form
/// there, it is a use of the name.
#[test]
fn no_service_name_in_the_pipeline() {
    let names = workspace_names();
    let listed: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        listed.contains(&"service") && !listed.contains(&"xtask") && !listed.contains(&"release-pipeline"),
        "{names:?}"
    );
    let keys = contract_keys();
    assert!(keys.contains("service") && keys.contains("image-tag-prefix"), "{keys:?}");
    let mut found = Vec::new();
    for (file, text) in sources().iter().filter(|(n, _)| !n.ends_with("tests.rs")) {
        let lexed = lex(non_test(text));
        for (offset, literal) in &lexed.strings {
            let command_line = in_command_line(&lexed.code, *offset);
            for (name, what) in &names {
                let the_contracts_key = file == "config.rs" && literal == name && keys.contains(name);
                if uses_name(literal, command_line, name) && !the_contracts_key {
                    let line = text[..*offset].lines().count().max(1);
                    found.push(format!("{file}:{line}: {literal:?} writes {what}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "the pipeline writes this workspace's names:\n{}", found.join("\n"));
}

/// The name matcher on the forms a name takes in code, and on those it does not.
#[test]
fn a_name_is_seen_in_every_form_it_takes() {
    for (literal, command_line) in [
        ("service", false),
        ("service/", false),
        ("bin/service", false),
        ("127.0.0.1:5000/acme/service", false),
        ("service-{version}-{target}.tar.gz", false),
        ("dist/service-1.2.3.tar.gz", false),
        ("cargo build -p service", true),
        ("copy `service/pkg` first", false),
    ] {
        assert!(uses_name(literal, command_line, "service"), "{literal}");
    }
    for (literal, command_line) in [
        ("the service is {}", false),
        ("a part per service: add --service NAME", false),
        ("`service.package` of service `{name}`", false),
        ("services", false),
        ("my-service", false),
        ("cargo build -p {package}", true),
    ] {
        assert!(!uses_name(literal, command_line, "service"), "{literal}");
    }
    let lexed = lex("let c = '\"'; let q = '\\''; let s: &'static str = r#\"bin/\"x\"#; // \"service\"\ncmd!(sh, \"cargo -p service\")");
    let values: Vec<&str> = lexed.strings.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(values, ["bin/\"x", "cargo -p service"]);
    assert!(in_command_line(&lexed.code, lexed.strings[1].0) && !in_command_line(&lexed.code, lexed.strings[0].0));
}
/// The plan is a crate of its own, and the compiler holds it pure: it depends on no crate that
/// starts a process, reads a file or reaches the network (each dependency is on this list of
/// pure ones), and no file of it uses the standard library's ways to.
#[test]
fn the_planner_is_pure() {
    let manifest: toml_edit::DocumentMut =
        std::fs::read_to_string(workspace_root().join("release-pipeline-plan/Cargo.toml")).unwrap().parse().unwrap();
    let pure = [
        "anyhow",
        "camino",
        "semver",
        "serde",
        "serde_json",
        "toml_edit",
        "sha2",
        "strsim",
        "url",
        "gix-validate",
        "shell-words",
        "git-conventional",
    ];
    let deps: Vec<&str> = manifest["dependencies"].as_table().unwrap().iter().map(|(name, _)| name).collect();
    assert!(deps.len() >= 5, "the plan's dependencies are read: {deps:?}");
    for dep in deps {
        assert!(pure.contains(&dep), "release-pipeline-plan depends on {dep}, which is not on the list of pure crates");
    }
    let sources = crate_sources("release-pipeline-plan");
    assert!(sources.iter().any(|(n, _)| n == "plan/steps.rs"), "the plan's sources are read");
    for (name, text) in &sources {
        let forbidden_uses = [
            "std::fs",
            "std::process",
            "TcpStream",
            "TcpListener",
            "UdpSocket",
            "to_socket_addrs",
            "std::env::var",
            "xshell",
            "cmd!(",
            "Command",
        ];
        for forbidden in forbidden_uses {
            assert!(!non_test(text).contains(forbidden), "the plan is pure, but {name} uses {forbidden}");
        }
    }
}

#[test]
fn every_external_command_goes_through_xshell() {
    for (name, text) in sources() {
        let text = non_test(&text);
        assert!(
            !text.contains("std::process::Command") && !text.contains("Command::new"),
            "{name} runs a command outside xshell"
        );
    }
}

/// A tool's failure is read in `failure.rs` only: no other module looks for status codes or
/// registry messages in a tool's output.
#[test]
fn failures_are_classified_in_one_place() {
    for (name, text) in sources().iter().filter(|(n, _)| n != "failure.rs") {
        for needle in [
            "\"401",
            "\"403",
            "\"500",
            "\"connection refused",
            "\": not found",
            "Unauthorized",
            "i/o timeout",
            "failed to select a version",
            "no matching package",
        ] {
            assert!(
                !non_test(text).contains(needle),
                "{name} reads a tool's failure itself ({needle}); use failure::classify"
            );
        }
    }
}

#[test]
fn the_codemap_names_every_module() {
    let architecture = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    for (name, _) in sources() {
        let module = name.split('/').next().unwrap();
        let module = if module.ends_with(".rs") { module.to_owned() } else { format!("{module}/") };
        assert!(architecture.contains(&format!("`{module}`")), "ARCHITECTURE.md's codemap does not name {module}");
    }
}

/// The spans a text quotes as code (between backticks) that name a source file (`pipeline.rs`,
/// `plan/steps.rs`) or, with `dirs`, a directory (`plan/`: a codemap entry's head; elsewhere a
/// directory is as often one a run makes, `pkg/`).
fn named_paths(text: &str, dirs: bool) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2).filter(move |span| {
        let path_like = span.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
        path_like && (span.ends_with(".rs") || (dirs && span.ends_with('/') && span.len() > 1))
    })
}

/// Every module ARCHITECTURE.md's codemap and the `//!` docs name exists, so neither can name a
/// module that is gone or never was. A codemap entry's head (`- `x.rs` — …`) is a module of the
/// pipeline (`release-pipeline/src/`); a file or directory named anywhere else in the codemap or
/// in a module's `//!` lines exists beside that module, in `release-pipeline/src/`, in the
/// workspace or among the tests (`xtask/tests/`, where `common/mod.rs` is).
#[test]
fn every_module_the_docs_name_exists() {
    let root = workspace_root();
    let src = root.join("release-pipeline/src");
    let srcs: Vec<PathBuf> = CRATES.iter().map(|k| root.join(k).join("src")).collect();
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let codemap = architecture.split("\n## Codemap").nth(1).unwrap().split("\n## ").next().unwrap();
    let mut missing = Vec::new();
    let mut heads = 0;
    for line in codemap.lines() {
        let Some((head, _)) = line.strip_prefix("- ").and_then(|l| l.split_once(" — ")) else { continue };
        for module in named_paths(head, true) {
            heads += 1;
            if !srcs.iter().any(|src| src.join(module).exists()) {
                missing.push(format!(
                    "ARCHITECTURE.md's codemap has an entry for {module}, which neither crate's src/ holds"
                ));
            }
        }
    }
    assert!(heads >= 40, "the codemap's entries are read: {heads}");
    let exists_near = |dir: &std::path::Path, path: &str| {
        [dir.to_owned(), root.clone(), root.join("xtask/tests")]
            .iter()
            .chain(&srcs)
            .any(|base| base.join(path).exists())
    };
    for path in named_paths(codemap, false) {
        if !exists_near(&src, path) {
            missing.push(format!("ARCHITECTURE.md's codemap names {path}, which does not exist"));
        }
    }
    for (krate, (file, text)) in CRATES.iter().flat_map(|k| crate_sources(k).into_iter().map(move |f| (*k, f))) {
        let docs: String =
            text.lines().filter_map(|l| l.trim_start().strip_prefix("//!")).collect::<Vec<_>>().join("\n");
        let dir = root.join(krate).join("src").join(&file).parent().unwrap().to_owned();
        for path in named_paths(&docs, false) {
            if !exists_near(&dir, path) {
                missing.push(format!("{file}'s `//!` docs name {path}, which does not exist"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

type Module = Vec<String>;

/// A source file's module, as a path from the crate root: `plan/steps.rs` is `plan::steps`,
/// `plan/mod.rs` is `plan`, `lib.rs` the root.
fn module_of(file: &str) -> Module {
    let mut path: Module = file.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
        path.pop();
    }
    path
}

/// The code's tokens: identifiers, `::` and single punctuation.
fn tokens(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = code.trim_start();
    while let Some(c) = rest.chars().next() {
        let len = if c.is_alphanumeric() || c == '_' {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len())
        } else if rest.starts_with("::") {
            2
        } else {
            c.len_utf8()
        };
        out.push(&rest[..len]);
        rest = rest[len..].trim_start();
    }
    out
}

fn is_ident(token: &str) -> bool {
    token.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// The rest of a path after `prefix::`, a `use` tree included (`{a, b::{c, self}}`, `*`,
/// `x as y`): each full path it names, with the name it binds (for a `use`).
fn path_tree(tokens: &[&str], at: &mut usize, prefix: Module, out: &mut Vec<(Module, Option<String>)>) {
    match tokens.get(*at).copied() {
        Some("{") => {
            *at += 1;
            while let Some(&token) = tokens.get(*at) {
                if token == "}" {
                    *at += 1;
                    break;
                }
                let before = *at;
                path_tree(tokens, at, prefix.clone(), out);
                if *at == before || tokens.get(*at) == Some(&",") {
                    *at += 1;
                }
            }
        }
        Some("*") => {
            *at += 1;
            out.push((prefix, None));
        }
        Some(name) if is_ident(name) => {
            *at += 1;
            let mut path = prefix.clone();
            match name {
                "self" => {}
                "super" => {
                    path.pop();
                }
                _ => path.push(name.to_owned()),
            }
            let continues = tokens.get(*at) == Some(&"::")
                && tokens.get(*at + 1).is_some_and(|t| is_ident(t) || *t == "{" || *t == "*");
            if continues {
                *at += 1;
                path_tree(tokens, at, path, out);
            } else {
                let binding = if tokens.get(*at) == Some(&"as") {
                    *at += 2;
                    tokens[*at - 1].to_owned()
                } else {
                    path.last().cloned().unwrap_or_default()
                };
                out.push((path, Some(binding)));
            }
        }
        _ => out.push((prefix, None)),
    }
}

/// The modules of the crate a file's code uses, each with the first path that names it: paths
/// from `crate::`, `super::` (`super::super::` too) and `self::`, and those from a name that
/// stands for a module there: a child module (`steps::` in `plan/mod.rs`) or a module a `use`
/// brought in (`use crate::plan;` then `plan::steps::x`), `use` trees read whole. A path names
/// the deepest module it goes through: `crate::plan::steps::Step` is `plan::steps`,
/// `super::ImagePlan` in `plan/sign.rs` is `plan`.
fn modules_used(
    module: &Module,
    code: &str,
    modules: &std::collections::BTreeSet<Module>,
) -> std::collections::BTreeMap<Module, String> {
    let tokens = tokens(code);
    let mut bindings: std::collections::BTreeMap<String, Module> = modules
        .iter()
        .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
        .map(|m| (m.last().unwrap().clone(), m.clone()))
        .collect();
    let deepest =
        |path: &Module| (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| modules.contains(m)).unwrap();
    // Twice: a `use` may bring in a module through one brought in by another (`use plan::steps`).
    let mut used = std::collections::BTreeMap::new();
    for _ in 0..2 {
        used.clear();
        let mut at = 0;
        while at < tokens.len() {
            let token = tokens[at];
            let starts_a_path =
                is_ident(token) && tokens.get(at + 1) == Some(&"::") && (at == 0 || tokens[at - 1] != "::");
            let base = match token {
                _ if !starts_a_path => None,
                "crate" => Some(Module::new()),
                "self" => Some(module.clone()),
                "super" => Some(module[..module.len().saturating_sub(1)].to_vec()),
                name => bindings.get(name).cloned(),
            };
            let Some(base) = base else {
                at += 1;
                continue;
            };
            let in_use = at > 0 && tokens[at - 1] == "use";
            at += 2;
            let mut paths = Vec::new();
            path_tree(&tokens, &mut at, base, &mut paths);
            for (path, binding) in paths {
                if let Some(binding) = binding.filter(|_| in_use && modules.contains(&path)) {
                    bindings.insert(binding, path.clone());
                }
                let target = deepest(&path);
                if &target != module {
                    used.entry(target).or_insert_with(|| path.join("::"));
                }
            }
        }
    }
    used
}

/// ARCHITECTURE.md: no module uses one that uses it back, directly or through others. Each file
/// is a module of its own (`plan/steps.rs`, `plan/sign.rs` and `plan/mod.rs` are three), and
/// every path that names a module is read (`modules_used`). A parent's `pub use child::X`
/// re-export is a use: the parent cannot be read without the child.
#[test]
fn no_import_cycles() {
    let m = |path: &str| path.split("::").map(str::to_owned).collect::<Module>();
    let mut described = Vec::new();
    for krate in CRATES {
        let sources: Vec<(String, String)> =
            crate_sources(krate).into_iter().filter(|(n, _)| !n.ends_with("tests.rs")).collect();
        let graph = import_graph(&sources);
        let seen = match krate {
            "release-pipeline" => graph[&m("execute")].contains_key(&m("summary")),
            _ => graph[&m("plan::sign")].contains_key(&m("plan::step")),
        };
        assert!(seen, "the reader sees {krate}'s imports: {graph:?}");
        let file_of: std::collections::BTreeMap<Module, &str> =
            sources.iter().map(|(n, _)| (module_of(n), n.as_str())).collect();
        for cycle in cycles(&graph) {
            let steps: Vec<String> = cycle
                .iter()
                .zip(cycle.iter().cycle().skip(1))
                .map(|(from, to)| format!("{} uses {} ({})", file_of[from], file_of[to], graph[from][to]))
                .collect();
            described.push(format!("import cycle in {krate}: {}", steps.join(", ")));
        }
    }
    assert!(described.is_empty(), "{}", described.join("\n"));
}

type Graph = std::collections::BTreeMap<Module, std::collections::BTreeMap<Module, String>>;

/// Which module each file uses, and by which path.
fn import_graph(sources: &[(String, String)]) -> Graph {
    let modules: std::collections::BTreeSet<Module> = sources.iter().map(|(n, _)| module_of(n)).collect();
    sources
        .iter()
        .map(|(name, text)| {
            let module = module_of(name);
            let used = modules_used(&module, &lex(non_test(text)).code, &modules);
            (module, used)
        })
        .collect()
}

/// The import cycles of a graph.
fn cycles(graph: &Graph) -> Vec<Vec<Module>> {
    // Depth-first: an edge back to a module on the path closes a cycle.
    fn visit(
        graph: &Graph,
        module: &Module,
        path: &mut Vec<Module>,
        done: &mut std::collections::BTreeSet<Module>,
        cycles: &mut Vec<Vec<Module>>,
    ) {
        if let Some(at) = path.iter().position(|m| m == module) {
            cycles.push(path[at..].to_vec());
            return;
        }
        if !done.insert(module.clone()) {
            return;
        }
        path.push(module.clone());
        for next in graph[module].keys() {
            visit(graph, next, path, done, cycles);
        }
        path.pop();
    }
    let (mut done, mut cycles) = (Default::default(), Vec::new());
    for module in graph.keys() {
        visit(graph, module, &mut Vec::new(), &mut done, &mut cycles);
    }
    cycles
}

/// The import reader on every form a path to a module takes.
#[test]
fn the_import_reader_reads_every_path_form() {
    let module = |path: &str| path.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect::<Module>();
    let modules = ["", "a", "b", "c", "p", "p::w", "p::x", "p::y", "p::z", "q"].map(module).into_iter().collect();
    let read = |file: &str, code: &str| -> Vec<(String, String)> {
        let used = modules_used(&module_of(file), &lex(code).code, &modules);
        used.into_iter().map(|(m, path)| (m.join("::"), path)).collect()
    };
    let parent = "use super::{c, Three};\npub use x::{One, Two};\nuse crate::{a, b::{self as bee}};\nuse std::fmt;\n\
                  fn f() { bee::g(); self::w::v(); y::f(); fmt::x::y(); \"crate::q::q\"; } // crate::q";
    let expected = [
        ("", "Three"),
        ("a", "a"),
        ("b", "b"),
        ("c", "c"),
        ("p::w", "p::w::v"),
        ("p::x", "p::x::One"),
        ("p::y", "p::y::f"),
    ];
    assert_eq!(read("p/mod.rs", parent), expected.map(|(m, p)| (m.to_owned(), p.to_owned())));
    let child = "use super::{x::One, *};\nfn g() { super::super::q::k(); crate::p::y::Y; }";
    let expected = [("p", "p"), ("p::x", "p::x::One"), ("p::y", "p::y::Y"), ("q", "q::k")];
    assert_eq!(read("p/z.rs", child), expected.map(|(m, p)| (m.to_owned(), p.to_owned())));
}
/// `--help` lists every command flags.rs declares.
#[test]
fn help_lists_every_command() {
    let flags = std::fs::read_to_string(workspace_root().join("release-pipeline/src/flags.rs")).unwrap();
    // The xtask's commands; `mod tool` is the installed `release-pipeline` binary's (`init.rs`).
    let (flags, _tool) = flags.split_once("\npub mod tool {").expect("flags.rs declares the tool's flags");
    let commands: Vec<&str> = flags
        .lines()
        .filter_map(|l| l.trim().strip_prefix("cmd ")?.split_whitespace().next())
        .filter(|c| *c != "xtask")
        .collect();
    assert!(commands.len() >= 10 && commands.contains(&"dev-release"), "{commands:?}");
    let out = xtask_cmd(&workspace_root()).arg("--help").output().unwrap();
    let help = stdout(&out) + &stderr(&out);
    for command in commands {
        assert!(help.contains(&format!("xtask {command}\n")), "--help does not list {command}:\n{help}");
    }
}

/// External commands run through one module: only `exec.rs` starts them, through its `Runner`
/// (the seam the unit tests' recording fake takes), and only it makes a shell: every command
/// line is built (`xshell::cmd!`) in the shell of the one `Exec` that `lib.rs` builds.
#[test]
fn commands_run_only_through_exec() {
    for (name, text) in sources().iter().filter(|(n, _)| n != "exec.rs") {
        for needle in [".run()", ".read()", ".output()", ".read_stderr()", ".spawn()", "Shell::new"] {
            assert!(!non_test(text).contains(needle), "{name} runs a command itself ({needle}); use exec.rs");
        }
    }
    let lib = std::fs::read_to_string(workspace_root().join("release-pipeline/src/lib.rs")).unwrap();
    assert_eq!(lib.matches("Exec::processes()").count(), 2, "lib.rs builds one Exec for `run` and one for `tool`");
}

/// The executor decides nothing: `Real`'s one `match` hands each step kind to one call, and no
/// arm has an `if`, a `while` or a `for` of its own (a step's condition is its `When`, read by
/// `run_steps`; a check is a function the arm calls).
#[test]
fn the_executor_decides_nothing() {
    let execute = std::fs::read_to_string(workspace_root().join("release-pipeline/src/execute.rs")).unwrap();
    let header = "impl Effects for Real<'_> {";
    let start = execute.find(header).expect("execute.rs implements Effects for Real") + header.len();
    let body = &execute[start..];
    let end = body.find("\n}\n").expect("the impl ends");
    let code = lex(&body[..end]).code;
    let arms = code.matches("Step::").count();
    assert!(arms >= 25, "every step kind has its arm: {arms}");
    for word in ["if ", "while ", "for ", "loop "] {
        let found: Vec<&str> =
            code.lines().filter(|l| l.trim_start().starts_with(word) || l.contains(&format!(" {word}"))).collect();
        assert!(found.is_empty(), "Real decides with `{}`: {found:#?}", word.trim());
    }
}
