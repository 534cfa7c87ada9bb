//! Signed releases on the real stack: a password-protected registry of the test's own, real
//! cosign, and key pairs made here. What a deployer checks (`cosign verify`, `cargo xtask
//! verify`) passes on every tag and platform of a release, and fails, with its reason, on what
//! the pipeline did not sign; a missing or wrong key stops a release before anything is pushed;
//! the key and its password are left nowhere.
mod common;
use base64::Engine;
use common::{stack::*, *};
use std::{
    path::Path,
    process::{Command, Output},
};

/// A scratch workspace that signs releases, with the public key of `keys` committed.
fn signing_workspace(keys: &Keys, sign: &str) -> TestRepo {
    let ws = scratch_workspace();
    let manifest = std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap().replace(
        "[workspace.metadata.release-pipeline]\n",
        &format!(
            "[workspace.metadata.release-pipeline]\nsigning = {{ sign = \"{sign}\", public-key = \"cosign.pub\" }}\n"
        ),
    );
    ws.write("Cargo.toml", &manifest);
    std::fs::copy(keys.public(), ws.path().join("cosign.pub")).unwrap();
    ws.git(&["add", "-A"]);
    ws.git(&["commit", "-q", "-m", "sign releases"]);
    ws
}

/// `cargo xtask ARGS` against the registry with the key and password given (`None`: unset).
/// No secret may appear in its output.
fn run(ws: &TestRepo, reg: &Registry, key: Option<&str>, password: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = xtask_cmd(ws.path());
    cmd.env("CARGO_TARGET_DIR", shared_target_dir())
        .env("RELEASE_REPOSITORY", reg.repository())
        .env("REGISTRY_USER", &reg.user)
        .env("REGISTRY_PASSWORD", &reg.password)
        .env_remove("COSIGN_PRIVATE_KEY")
        .env_remove("COSIGN_PASSWORD")
        .args(args);
    if let Some(key) = key {
        cmd.env("COSIGN_PRIVATE_KEY", key);
    }
    if let Some(password) = password {
        cmd.env("COSIGN_PASSWORD", password);
    }
    let out = cmd.output().unwrap();
    let printed = stdout(&out) + &stderr(&out);
    let key_line = key.and_then(|k| k.lines().nth(3)).unwrap_or("");
    for secret in [reg.password.as_str(), password.unwrap_or(""), key_line].into_iter().filter(|s| !s.is_empty()) {
        assert!(!printed.contains(secret), "`{}` printed a secret:\n{printed}", args.join(" "));
    }
    out
}

/// `cosign ARGS` with the client's registry login.
fn cosign(client: &DockerClient, args: &[&str]) -> Output {
    Command::new("cosign").env("DOCKER_CONFIG", client.config_dir()).args(args).output().unwrap()
}

/// The payloads of the verified attestations of `kind` on `reference`, decoded.
fn attestations(client: &DockerClient, public: &Path, reference: &str, kind: &str) -> Vec<serde_json::Value> {
    let out = cosign(
        client,
        &[
            "verify-attestation",
            "--key",
            public.to_str().unwrap(),
            "--insecure-ignore-tlog",
            "--allow-http-registry",
            "--type",
            kind,
            reference,
        ],
    );
    assert_ok(&out);
    stdout(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let envelope: serde_json::Value = serde_json::from_str(line).unwrap();
            let payload =
                base64::engine::general_purpose::STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
            serde_json::from_slice(&payload).unwrap()
        })
        .collect()
}

/// The platform manifests of the index `tag` holds: (platform, digest).
fn platform_digests(client: &DockerClient, reference: &str) -> Vec<(String, String)> {
    let out = client.cmd(&["buildx", "imagetools", "inspect", "--raw", reference]).output().unwrap();
    assert_ok(&out);
    let index: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let variant = p["variant"].as_str().map(|v| format!("/{v}")).unwrap_or_default();
            (
                format!("{}/{}{variant}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap()),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The locked version of a package, from `Cargo.lock`.
fn locked_version(root: &Path, name: &str) -> String {
    let lock: toml_edit::DocumentMut = std::fs::read_to_string(root.join("Cargo.lock")).unwrap().parse().unwrap();
    let packages = lock["package"].as_array_of_tables().unwrap();
    let package = packages.iter().find(|p| p["name"].as_str() == Some(name)).unwrap();
    package["version"].as_str().unwrap().to_owned()
}

#[test]
fn a_signed_release_verifies_and_what_the_pipeline_did_not_sign_does_not() {
    let reg = Registry::start("ci", "sign-pass-3");
    let client = DockerClient::login(&reg);
    let keys = Keys::generate("key");
    keys.forget_file();
    let other = Keys::generate("other");
    let ws = signing_workspace(&keys, "releases");
    let repo = reg.repository();
    let public = keys.public();
    let key = Some(keys.private.as_str());
    let password = Some(keys.password.as_str());

    // A release: signed, attested, and its checksums signed.
    ws.tag("v1.2.3");
    let head = ws.head();
    let out = run(&ws, &reg, key, password, &["release"]);
    assert_ok(&out);
    let verify = |reference: &str| run(&ws, &reg, None, None, &["verify", reference]);
    for tag in ["1.2.3", "1.2", "1", "latest", "rpi-1.2.3", "rpi-1.2", "rpi-1", "rpi-latest"] {
        let reference = format!("{repo}:{tag}");
        let out = cosign(
            &client,
            &[
                "verify",
                "--key",
                public.to_str().unwrap(),
                "--insecure-ignore-tlog",
                "--allow-http-registry",
                &reference,
            ],
        );
        assert_ok(&out);
        let out = verify(&reference);
        assert_ok(&out);
        assert!(stdout(&out).contains(&format!("verified {reference}")), "{}", stdout(&out));
    }
    let platforms = platform_digests(&client, &format!("{repo}:1.2.3"));
    assert_eq!(platforms.len(), 3, "{platforms:?}");
    for (platform, digest) in &platforms {
        let out = verify(&format!("{repo}@{digest}"));
        assert_ok(&out);
        // Each platform manifest carries its own target's SBOM (the rpi image's manifest is the
        // very same arm/v7 manifest, so that one carries it twice).
        let sboms = attestations(&client, &public, &format!("{repo}@{digest}"), "cyclonedx");
        let target = match platform.as_str() {
            "linux/amd64" => "x86_64-unknown-linux-musl",
            "linux/arm64" => "aarch64-unknown-linux-gnu",
            _ => "armv7-unknown-linux-gnueabihf",
        };
        assert!(!sboms.is_empty(), "{platform}");
        for sbom in &sboms {
            assert_eq!(sbom["subject"][0]["digest"]["sha256"], digest.trim_start_matches("sha256:"), "{platform}");
            assert_eq!(sbom["predicate"]["metadata"]["properties"][0]["value"], target, "{platform}");
        }
    }
    let index = format!("{repo}:1.2.3");
    let provenance = attestations(&client, &public, &index, "slsaprovenance1");
    let parameters = &provenance[0]["predicate"]["buildDefinition"]["externalParameters"];
    assert_eq!(parameters["commit"], head.as_str());
    assert_eq!(parameters["ref"], "refs/tags/v1.2.3");
    let sboms = attestations(&client, &public, &index, "cyclonedx");
    assert_eq!(sboms.len(), 3, "the index carries one SBOM per target");
    let components = sboms[0]["predicate"]["components"].as_array().unwrap();
    for dependency in ["tiny_http", "signal-hook", "lexopt", "serde_json"] {
        let listed = components.iter().find(|c| c["name"] == dependency).unwrap_or_else(|| panic!("{dependency}"));
        assert_eq!(listed["version"], locked_version(ws.path(), dependency).as_str(), "{dependency}");
    }
    let out = Command::new("cosign")
        .args(["verify-blob", "--key", public.to_str().unwrap(), "--insecure-ignore-tlog", "--signature"])
        .arg(ws.path().join("dist/SHA256SUMS.sig"))
        .arg(ws.path().join("dist/SHA256SUMS"))
        .output()
        .unwrap();
    assert_ok(&out);

    // A rerun of the finished release signs nothing again.
    let before = reg.snapshot();
    let out = run(&ws, &reg, key, password, &["release"]);
    assert_ok(&out);
    assert!(!stderr(&out).contains("$ cosign sign"), "{}", stderr(&out));
    assert_eq!(reg.snapshot(), before);

    // The version's git tag moved to another commit: the image is not that version's.
    ws.git(&["tag", "-f", "v1.2.3", "HEAD~1"]);
    let out = verify(&format!("{repo}:1.2.3"));
    assert_fails_with(&out, &format!("the provenance names commit {head} but tag 1.2.3 is commit"));
    ws.git(&["tag", "-f", "v1.2.3", &head]);

    // The docker/ index copied onto a tag of the rpi- context: signed, but not that context's.
    reg.retag("1.2.3", "rpi-1");
    let out = verify(&format!("{repo}:rpi-1"));
    assert_fails_with(&out, "is a tag of rpi-docker/, but no provenance of");
    reg.retag("rpi-1.2.3", "rpi-1");

    // An image pushed to the version tag behind the pipeline's back: not signed. Signed with
    // another key: signed by another key.
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
    std::fs::write(context.path().join("f"), "not the pipeline's").unwrap();
    let out = client
        .cmd(&["buildx", "build", "--platform", "linux/amd64", "--provenance=false", "--tag", &index, "--push"])
        .arg(context.path())
        .output()
        .unwrap();
    assert_ok(&out);
    let out = verify(&index);
    assert_fails_with(&out, "not signed");
    let forged = format!("{repo}@{}", reg.digest("1.2.3"));
    let out = Command::new("cosign")
        .env("COSIGN_PASSWORD", &other.password)
        .env("DOCKER_CONFIG", client.config_dir())
        .args(["sign", "--yes", "--key"])
        .arg(other.dir.path().join("cosign.key"))
        .args(["--tlog-upload=false", "--allow-http-registry", &forged])
        .output()
        .unwrap();
    assert_ok(&out);
    let out = verify(&index);
    assert_fails_with(&out, "signed by another key");

    // A dev release with `sign = "releases"`: not signed.
    ws.git(&["checkout", "-q", "-b", "feature/unsigned"]);
    ws.commit("a dev change");
    let out = run(&ws, &reg, key, password, &["dev-release"]);
    assert_ok(&out);
    let out = verify(&format!("{repo}:feature-unsigned"));
    assert_fails_with(&out, "not signed");

    // The key and its password are nowhere on disk: the workspace, the key's own directory
    // (its file removed above), the client's docker config and the temporary directory.
    let needles = [keys.body_line(), keys.password.as_str()];
    let places = [ws.path(), keys.dir.path(), &std::env::temp_dir(), client.config_dir()];
    for place in places {
        let hits: Vec<String> = files_containing(place, &needles)
            .into_iter()
            .filter(|hit| !hit.starts_with(other.dir.path().to_str().unwrap()))
            .collect();
        assert!(hits.is_empty(), "the key or its password was left in {hits:?}");
    }
}

/// A release signs each image before it tags it: one stopped before signing has written no tag
/// a user pulls, so nothing (`reconcile --apply` included) can move `latest` onto it; its rerun
/// signs, then tags and moves the tags. An image someone else put at the version tag, with this
/// commit's labels but without our signature, is never signed or resumed.
#[test]
fn an_unsigned_release_gets_no_moving_tag_until_its_rerun_signs_it() {
    let reg = Registry::start("ci", "sign-pass-5");
    let keys = Keys::generate("unsigned");
    keys.forget_file();
    let ws = signing_workspace(&keys, "releases");
    let (key, password) = (Some(keys.private.as_str()), Some(keys.password.as_str()));
    ws.tag("1.3.0");
    assert_ok(&run(&ws, &reg, key, password, &["release"]));
    let d130 = reg.digest("1.3.0");
    ws.commit("work for 1.4.0");
    ws.tag("1.4.0");
    // A release of HEAD, paused at its first signing step.
    let paused_release = || {
        let mut cmd = xtask_cmd(ws.path());
        cmd.env("CARGO_TARGET_DIR", shared_target_dir())
            .env("RELEASE_REPOSITORY", reg.repository())
            .env("REGISTRY_USER", &reg.user)
            .env("REGISTRY_PASSWORD", &reg.password)
            .env("COSIGN_PRIVATE_KEY", &keys.private)
            .env("COSIGN_PASSWORD", &keys.password)
            .arg("release");
        Paused::start(cmd, "sign")
    };
    // Stopped there, as a killed job would be: pushed under a staging tag, not signed.
    let mut paused = paused_release();
    paused.child.kill().unwrap();
    paused.finish();
    let tags = reg.tags();
    assert!(!tags.iter().any(|t| t == "1.4.0" || t == "rpi-1.4.0"), "no tag a user pulls: {tags:?}");
    assert!(tags.iter().any(|t| t.starts_with("staging-")), "pushed under a staging tag: {tags:?}");
    assert_eq!(reg.digest("latest"), d130);
    assert_ok(&run(&ws, &reg, key, password, &["reconcile", "--apply"]));
    assert_eq!(reg.digest("latest"), d130, "latest stays on the signed 1.3.0");

    let out = run(&ws, &reg, key, password, &["release"]);
    assert_ok(&out);
    for (tag, release) in [("latest", "1.4.0"), ("1", "1.4.0"), ("rpi-latest", "rpi-1.4.0")] {
        assert_eq!(reg.digest(tag), reg.digest(release), "{tag}");
    }

    // Someone pushes an image with 1.5.0's commit and version in its labels before CI releases
    // it: the release refuses to resume on it, and signs nothing.
    ws.commit("work for 1.5.0");
    ws.tag("1.5.0");
    let client = DockerClient::login(&reg);
    let foreign = tempfile::tempdir().unwrap();
    std::fs::write(foreign.path().join("Dockerfile"), "FROM scratch\nCOPY evil /evil\n").unwrap();
    std::fs::write(foreign.path().join("evil"), "not ours").unwrap();
    // An image of someone else's at `version`'s tags, with HEAD's commit and `version` as labels.
    let plant = |version: &str| {
        for tag in [version.to_owned(), format!("rpi-{version}")] {
            let out = client
                .cmd(&["buildx", "build", "--provenance=false", "--platform", "linux/arm/v7"])
                .args(["--label", &format!("org.opencontainers.image.revision={}", ws.head())])
                .args(["--label", &format!("org.opencontainers.image.version={version}")])
                .args(["--tag", &format!("{}:{tag}", reg.repository()), "--push"])
                .arg(foreign.path())
                .output()
                .unwrap();
            assert_ok(&out);
        }
    };
    plant("1.5.0");
    let planted = reg.digest("1.5.0");
    let out = run(&ws, &reg, key, password, &["release"]);
    assert_fails_with(&out, "which no signature of the configured key covers");
    assert_eq!(reg.digest("latest"), reg.digest("1.4.0"));
    let out = run(&ws, &reg, None, None, &["verify", &format!("{}@{planted}", reg.repository())]);
    assert_fails_with(&out, "not signed");

    // The same, while a release is between its build and its tag: the run stops, tags nothing,
    // and never reports the planted image as released.
    ws.commit("work for 1.6.0");
    ws.tag("1.6.0");
    let paused = paused_release();
    plant("1.6.0");
    let planted = reg.digest("1.6.0");
    let (status, _, stderr) = paused.resume();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("holds a build of this commit, but"), "{stderr}");
    assert_eq!(reg.digest("1.6.0"), planted, "left alone");
    assert_eq!(reg.digest("latest"), reg.digest("1.4.0"));

    let verify = |tag: &str| run(&ws, &reg, None, None, &["verify", &format!("{}:{tag}", reg.repository())]);
    assert_ok(&verify("latest"));

    // What verify refuses although every signature on it verifies: a moving tag left behind on
    // an older release, a version tag stripped to one platform, a retracted version.
    reg.retag("1.3.0", "1");
    assert_fails_with(&verify("1"), "holds 1.3.0, but the highest release of ours it covers is 1.4.0");
    assert_ok(&run(&ws, &reg, None, None, &["reconcile", "--apply"]));
    assert_ok(&verify("1"));
    let client = DockerClient::login(&reg);
    let arm64 = platform_digests(&client, &format!("{}:1.4.0", reg.repository()))
        .into_iter()
        .find(|(platform, _)| platform == "linux/arm64")
        .unwrap()
        .1;
    assert_ok(&run(&ws, &reg, None, None, &["verify", &format!("{}@{arm64}", reg.repository())]));
    reg.retag(&arm64, "1.4.0");
    assert_fails_with(&verify("1.4.0"), "has platforms linux/arm64, but the context docker builds");
    // With signing on, retract attests the retraction on each of the version's images: verify
    // refuses them even where the git tag recording it is missing.
    let out = run(&ws, &reg, key, password, &["retract", "1.4.0", "--reason", "an example"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("attest https://release-pipeline.dev/retraction/v1"), "{}", stdout(&out));
    assert_fails_with(&verify("rpi-1.4.0"), "is release 1.4.0, which was retracted: an example");
    ws.git(&["tag", "-d", "retracted/1.4.0"]);
    assert_fails_with(&verify("rpi-1.4.0"), "which was retracted: an example (a signed retraction is attested on");
    assert_ok(&verify("1.3.0"));
}

#[test]
fn a_missing_key_or_a_wrong_password_stops_the_release_before_anything_is_pushed() {
    let reg = Registry::start("ci", "sign-pass-4");
    let keys = Keys::generate("key");
    keys.forget_file();
    let other = Keys::generate("other");
    let ws = signing_workspace(&keys, "all");
    ws.tag("v2.0.0");
    let cases: [(Option<&str>, Option<&str>, &str); 4] = [
        (None, Some(&keys.password), "COSIGN_PRIVATE_KEY is not set"),
        (Some(&keys.private), None, "COSIGN_PASSWORD is not set"),
        (Some(&keys.private), Some("not-the-password"), "the password in COSIGN_PASSWORD does not open the key"),
        (Some(&other.private), Some(&other.password), "is not the one whose public key is committed as cosign.pub"),
    ];
    for (key, password, expected) in cases {
        let out = run(&ws, &reg, key, password, &["release"]);
        assert_fails_with(&out, expected);
        assert_fails_with(&out, "nothing was built or pushed");
        assert!(reg.tags().is_empty(), "{expected}: {:?}", reg.tags());
        // The dry run says the same, and shows the signing steps.
        let out = run(&ws, &reg, key, password, &["release", "--dry-run"]);
        assert_fails_with(&out, expected);
        assert!(stdout(&out).contains("$ cosign sign --yes --key env://COSIGN_PRIVATE_KEY"), "{}", stdout(&out));
    }
}

/// `doctor` shows the signing checks the preflight makes, from the same code.
#[test]
fn doctor_shows_the_signing_setup() {
    let keys = Keys::generate("key");
    keys.forget_file();
    let ws = signing_workspace(&keys, "releases");
    let doctor = |key: Option<&str>, password: Option<&str>| {
        let mut cmd = xtask_cmd(ws.path());
        cmd.args(["doctor", "--json"]).env_remove("COSIGN_PRIVATE_KEY").env_remove("COSIGN_PASSWORD");
        if let Some(key) = key {
            cmd.env("COSIGN_PRIVATE_KEY", key);
        }
        if let Some(password) = password {
            cmd.env("COSIGN_PASSWORD", password);
        }
        let out = cmd.output().unwrap();
        let checks: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
        checks.into_iter().find(|c| c["check"] == "signing").expect("a signing check")
    };
    let missing = doctor(None, Some(&keys.password));
    assert_eq!(missing["ok"], false, "{missing}");
    assert!(missing["detail"].as_str().unwrap().contains("COSIGN_PRIVATE_KEY is not set"), "{missing}");
    let wrong = doctor(Some(&keys.private), Some("wrong"));
    assert!(wrong["detail"].as_str().unwrap().contains("does not open the key"), "{wrong}");
    let good = doctor(Some(&keys.private), Some(&keys.password));
    assert_eq!(good["ok"], true, "{good}");
}
