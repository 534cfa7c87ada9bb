//! The real Docker stack for end-to-end tests: a password-protected registry of the test's own
//! on a free loopback port, and a docker CLI with the test's own login. A missing stack fails
//! the test: nothing is skipped.
#![allow(dead_code)]
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::*;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Fails (never skips) when the engine is not there: CI must have started it.
pub fn require_docker() {
    let out = Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("the Docker daemon is not reachable (scripts/onboard.sh starts it): {}", stderr(&o)),
        Err(e) => panic!("docker is not installed (scripts/onboard.sh installs it): {e}"),
    }
}

pub struct Registry {
    pub port: u16,
    pub user: String,
    pub password: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Registry {
    pub fn start(user: &str, password: &str) -> Registry {
        require_docker();
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd (apache2-utils)");
        assert_ok(&out);
        std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
        let mut reg = Registry { port: free_port(), user: user.into(), password: password.into(), dir, child: None };
        reg.restart();
        reg
    }

    /// (Re)starts the registry on the same port and storage.
    pub fn restart(&mut self) {
        self.restart_with(true);
    }

    /// (Re)starts the registry, with deletes enabled or not.
    pub fn restart_with(&mut self, deletes: bool) {
        self.stop();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n  delete:\n    enabled: {deletes}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: test\n    path: {root}/htpasswd\n",
            root = self.dir.path().display(),
            port = self.port
        );
        let config_path = self.dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(self.dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.http_status("/v2/", false) == "401" {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the registry did not start on port {}", self.port);
    }

    /// The registry's garbage collection (stopped meanwhile, as distribution requires): blobs
    /// no manifest references any more are deleted from storage.
    pub fn garbage_collect(&mut self) {
        self.stop();
        let out = Command::new("docker-registry")
            .arg("garbage-collect")
            .arg(self.dir.path().join("config.yml"))
            .output()
            .unwrap();
        assert_ok(&out);
        self.restart();
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn repository(&self) -> String {
        format!("{}/acme/service", self.host())
    }

    fn http_status(&self, path: &str, auth: bool) -> String {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}"]);
        if auth {
            cmd.args(["-u", &format!("{}:{}", self.user, self.password)]);
        }
        let out = cmd.arg(format!("http://{}{path}", self.host())).output().expect("curl");
        stdout(&out)
    }

    /// Every tag of acme/service, sorted; none when the repository does not exist yet. Any other
    /// answer (the registry down, a refused login) fails the test: "nothing was pushed" must not
    /// pass because the registry could not be read.
    pub fn tags(&self) -> Vec<String> {
        self.tags_of("acme/service")
    }

    /// Every tag of the repository `name` (`acme/alpha`), as [`Registry::tags`].
    pub fn tags_of(&self, name: &str) -> Vec<String> {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "-u", &format!("{}:{}", self.user, self.password)])
            .arg(format!("http://{}/v2/{name}/tags/list", self.host()))
            .output()
            .unwrap();
        let text = stdout(&out);
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", ""));
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        if status == "404" && v["errors"][0]["code"] == "NAME_UNKNOWN" {
            return Vec::new();
        }
        assert_eq!(status, "200", "the test registry could not be read: {text}");
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// The digest `tag` resolves to.
    pub fn digest(&self, tag: &str) -> String {
        let accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
        let out = Command::new("curl")
            .args(["-s", "-I", "-u", &format!("{}:{}", self.user, self.password), "-H", &format!("Accept: {accept}")])
            .arg(format!("http://{}/v2/acme/service/manifests/{tag}", self.host()))
            .output()
            .unwrap();
        stdout(&out)
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("docker-content-digest:")
                    .then(|| l.split_once(':').unwrap().1.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no digest for {tag}: {}", stdout(&out)))
    }

    /// Points `tag` at what `from` (a tag, or a `sha256:` digest) holds, by hand (skopeo, digest
    /// kept): another tool's write.
    pub fn retag(&self, from: &str, tag: &str) {
        let from = if from.starts_with("sha256:") { format!("@{from}") } else { format!(":{from}") };
        let creds = format!("{}:{}", self.user, self.password);
        let out = Command::new("skopeo")
            .args(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false"])
            .args(["--src-creds", &creds, "--dest-creds", &creds])
            .arg(format!("docker://{}{from}", self.repository()))
            .arg(format!("docker://{}:{tag}", self.repository()))
            .output()
            .unwrap();
        assert_ok(&out);
    }

    /// `cargo xtask ARGS` in `dir` against this registry, with its credentials and the shared
    /// target dir.
    pub fn xtask(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = xtask_cmd(dir);
        cmd.env("CARGO_TARGET_DIR", shared_target_dir())
            .env("RELEASE_REPOSITORY", self.repository())
            .env("REGISTRY_USER", &self.user)
            .env("REGISTRY_PASSWORD", &self.password)
            .args(args);
        cmd
    }

    /// Pushes a small image (one config, no layers) for linux/`arch` with these labels as `tag`
    /// with skopeo, in seconds and without the engine; returns its digest. The same labels and
    /// arch make the same digest.
    pub fn push_image(&self, tag: &str, arch: &str, labels: &[(&str, &str)]) -> String {
        use sha2::{Digest, Sha256};
        let layout = tempfile::tempdir().unwrap();
        let blobs = layout.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let put = |bytes: &[u8]| {
            let hex = format!("{:x}", Sha256::digest(bytes));
            std::fs::write(blobs.join(&hex), bytes).unwrap();
            (format!("sha256:{hex}"), bytes.len())
        };
        let labels: serde_json::Map<String, serde_json::Value> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect();
        let config = serde_json::json!({
            "architecture": arch, "os": "linux", "config": { "Labels": labels },
            "rootfs": { "type": "layers", "diff_ids": [] },
        });
        let (config_digest, config_size) = put(config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
            "layers": [],
        });
        let (digest, size) = put(manifest.to_string().as_bytes());
        std::fs::write(layout.path().join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let index = serde_json::json!({ "schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
            "annotations": { "org.opencontainers.image.ref.name": "x" },
        }]});
        std::fs::write(layout.path().join("index.json"), index.to_string()).unwrap();
        let out = Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false", "--dest-creds", &format!("{}:{}", self.user, self.password)])
            .arg(format!("oci:{}:x", layout.path().display()))
            .arg(format!("docker://{}:{tag}", self.repository()))
            .output()
            .unwrap();
        assert_ok(&out);
        digest
    }

    /// Deletes the manifest `tag` resolves to (and so every tag holding that digest).
    pub fn delete(&self, tag: &str) {
        let digest = self.digest(tag);
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "DELETE",
                "-u",
                &format!("{}:{}", self.user, self.password),
            ])
            .arg(format!("http://{}/v2/acme/service/manifests/{digest}", self.host()))
            .output()
            .unwrap();
        assert_eq!(stdout(&out), "202", "deleting {tag}");
    }

    /// Every tag with its digest: what the registry holds.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        self.tags()
            .into_iter()
            .map(|t| {
                let d = self.digest(&t);
                (t, d)
            })
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A docker CLI logged in to `registry`, with a config dir of its own.
pub struct DockerClient {
    config: tempfile::TempDir,
}

impl DockerClient {
    pub fn login(registry: &Registry) -> DockerClient {
        let client = DockerClient { config: tempfile::tempdir().unwrap() };
        let mut child = client
            .cmd(&["login", &registry.host(), "--username", &registry.user, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(registry.password.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_ok(&out);
        client
    }

    /// The docker config directory holding the login (cosign reads it too).
    pub fn config_dir(&self) -> &Path {
        self.config.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_CONFIG", self.config.path()).args(args);
        cmd
    }

    /// Pulls `image` for `platform`, runs it, and returns its `GET /version` answer.
    pub fn run_version(&self, image: &str, platform: &str) -> serde_json::Value {
        assert_ok(&self.cmd(&["pull", "--quiet", "--platform", platform, image]).output().unwrap());
        let port = free_port();
        let name = format!("e2e-{port}");
        let out = self
            .cmd(&[
                "run",
                "--detach",
                "--rm",
                "--name",
                &name,
                "--platform",
                platform,
                "--publish",
                &format!("127.0.0.1:{port}:8080"),
                image,
            ])
            .output()
            .unwrap();
        assert_ok(&out);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut answer = String::new();
        while Instant::now() < deadline {
            let out = Command::new("curl")
                .args(["-s", "--max-time", "2"])
                .arg(format!("http://127.0.0.1:{port}/version"))
                .output()
                .unwrap();
            if out.status.success() && !out.stdout.is_empty() {
                answer = stdout(&out);
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.cmd(&["stop", "--time", "5", &name]).output();
        serde_json::from_str(&answer)
            .unwrap_or_else(|_| panic!("{image} for {platform} did not answer /version: {answer:?}"))
    }
}

/// A directory with a fake `docker` that records its argv (one line per call) and stdin.
pub struct FakeDocker {
    pub dir: tempfile::TempDir,
}

impl FakeDocker {
    /// `script` is the body of a bash `case "$*" in … esac` deciding each call's answer.
    pub fn new(script: &str) -> FakeDocker {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("argv.log");
        let stdin_log = dir.path().join("stdin.log");
        let body = format!(
            "#!/bin/bash\nprintf '%s\\n' \"$*\" >> {log}\nif [[ \" $* \" == *' --password-stdin '* ]]; then cat >> {stdin_log}; fi\ncase \"$*\" in\n{script}\nesac\n",
            log = log.display(),
            stdin_log = stdin_log.display()
        );
        let path = dir.path().join("docker");
        std::fs::write(&path, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeDocker { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("argv.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn stdin(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdin.log")).unwrap_or_default()
    }

    /// PATH with the fake first, then the system's.
    pub fn path_env(&self) -> PathBuf {
        let mut paths = vec![self.dir.path().to_owned()];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        std::env::join_paths(paths).unwrap().into()
    }
}

/// A ktra cargo registry (checks tokens, refuses duplicates) on a free loopback port, with a git
/// index of its own, named `local` for cargo.
pub struct CargoRegistry {
    pub port: u16,
    pub token: String,
    pub index_url: String,
    dir: tempfile::TempDir,
    child: Child,
}

pub fn ktra_binary() -> PathBuf {
    let root = std::env::var_os("KTRA_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/release-pipeline/ktra"));
    let bin = root.join("bin/ktra");
    assert!(bin.is_file(), "ktra is not installed at {} (scripts/onboard.sh installs it)", bin.display());
    bin
}

impl CargoRegistry {
    pub fn start() -> CargoRegistry {
        let ktra = ktra_binary();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let index = dir.path().join("index.git");
        git_in(dir.path(), &["init", "-q", "--bare", "-b", "main", index.to_str().unwrap()]);
        let work = dir.path().join("index-work");
        git_in(dir.path(), &["clone", "-q", index.to_str().unwrap(), work.to_str().unwrap()]);
        std::fs::write(
            work.join("config.json"),
            format!(r#"{{"dl":"http://127.0.0.1:{port}/dl","api":"http://127.0.0.1:{port}"}}"#),
        )
        .unwrap();
        git_in(&work, &["add", "config.json"]);
        git_in(&work, &["commit", "-q", "-m", "config"]);
        git_in(&work, &["push", "-q", "origin", "HEAD:main"]);
        let d = dir.path().display();
        let config = format!(
            "[index_config]\nremote_url = \"file://{d}/index.git\"\nlocal_path = \"{d}/ktra-index\"\nbranch = \"main\"\n\
             [crate_files_config]\ndl_dir_path = \"{d}/dl\"\ncache_dir_path = \"{d}/cache\"\n\
             [db_config]\ndb_dir_path = \"{d}/db\"\n\
             [server_config]\naddress = [127, 0, 0, 1]\nport = {port}\n"
        );
        std::fs::write(dir.path().join("ktra.toml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("ktra.log")).unwrap();
        let child = Command::new(ktra)
            .args(["-c", "ktra.toml"])
            .current_dir(dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "ktra")
            .env("GIT_AUTHOR_EMAIL", "ktra@example.com")
            .env("GIT_COMMITTER_NAME", "ktra")
            .env("GIT_COMMITTER_EMAIL", "ktra@example.com")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let token = loop {
            let out = Command::new("curl")
                .args([
                    "-s",
                    "-X",
                    "POST",
                    "-H",
                    "Content-Type: application/json",
                    "-d",
                    r#"{"password":"pw-for-tests"}"#,
                ])
                .arg(format!("http://127.0.0.1:{port}/ktra/api/v1/new_user/ci"))
                .output()
                .unwrap();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
                if let Some(t) = v["token"].as_str() {
                    break t.to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "ktra did not start: {}",
                std::fs::read_to_string(dir.path().join("ktra.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        let index_url = format!("file://{}", index.display());
        CargoRegistry { port, token, index_url, dir, child }
    }

    /// The environment cargo needs for the registry `local`.
    pub fn cargo_env(&self, token: &str) -> Vec<(&'static str, String)> {
        vec![
            ("CARGO_REGISTRIES_LOCAL_INDEX", self.index_url.clone()),
            ("CARGO_REGISTRIES_LOCAL_TOKEN", token.to_owned()),
            ("CARGO_NET_GIT_FETCH_WITH_CLI", "true".to_owned()),
        ]
    }

    /// The file names inside the published `.crate` of `krate` `version`.
    pub fn crate_files(&self, krate: &str, version: &str) -> Vec<String> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    walk(&e.path(), out)
                } else {
                    out.push(e.path())
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.dir.path().join("dl"), &mut files);
        let wanted = format!("{krate}-{version}/Cargo.toml");
        for file in files {
            let out = Command::new("tar").arg("tzf").arg(&file).output().unwrap();
            let names: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
            if names.iter().any(|n| n == &wanted) {
                return names;
            }
        }
        panic!("no .crate of {krate} {version} under {}", self.dir.path().join("dl").display())
    }

    /// The versions of `krate` in the index.
    pub fn versions(&self, krate: &str) -> Vec<String> {
        self.index_entries(krate).iter().map(|e| e["vers"].as_str().unwrap().to_owned()).collect()
    }

    /// The versions of `krate` the index marks yanked.
    pub fn yanked(&self, krate: &str) -> Vec<String> {
        self.index_entries(krate)
            .iter()
            .filter(|e| e["yanked"] == true)
            .map(|e| e["vers"].as_str().unwrap().to_owned())
            .collect()
    }

    fn index_entries(&self, krate: &str) -> Vec<serde_json::Value> {
        let work = self.dir.path().join(format!("read-{}", free_port()));
        git_in(self.dir.path(), &["clone", "-q", self.index_url.trim_start_matches("file://"), work.to_str().unwrap()]);
        let path = work.join(&krate[..2]).join(&krate[2..4]).join(krate);
        std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

impl Drop for CargoRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a [`FaultProxy`] does to one request instead of forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer `500 Internal Server Error`.
    Status500,
    /// Close the connection without an answer.
    Close,
}

/// One planned fault: the next request with this method whose path contains `path` gets `kind`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path: &'static str,
    pub kind: FaultKind,
}

/// A proxy of the test's own in front of a registry: forwards every request (one per
/// connection: it asks the registry to close after each answer, so every request passes
/// through here), except the ones its planned faults pick, which fail.
pub struct FaultProxy {
    pub port: u16,
    faults: std::sync::Arc<std::sync::Mutex<Vec<Fault>>>,
    /// `METHOD PATH` of every request forwarded, as forwarded.
    pub forwarded: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// `METHOD PATH -> fault` for each request that was failed.
    pub failed: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub fn start(upstream: u16, faults: Vec<Fault>) -> FaultProxy {
        FaultProxy::start_paging(upstream, faults, None)
    }

    /// As [`FaultProxy::start`], and with `page` the proxy answers a tag list itself, `page` tags
    /// at a time (after `?last=`), with a `Link: <…>; rel="next"` header while more follow, as
    /// large registries do (distribution 2.8 ignores `?n=`).
    pub fn start_paging(upstream: u16, faults: Vec<Fault>, page: Option<usize>) -> FaultProxy {
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults = Arc::new(Mutex::new(faults));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let forwarded = Arc::new(Mutex::new(Vec::new()));
        let (f, l, w) = (faults.clone(), failed.clone(), forwarded.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (f, l, w) = (f.clone(), l.clone(), w.clone());
                std::thread::spawn(move || proxy_one(client, upstream, page, &f, &l, &w));
            }
        });
        FaultProxy { port, faults, forwarded, failed }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Plans more faults.
    pub fn add(&self, more: Vec<Fault>) {
        self.faults.lock().unwrap().extend(more);
    }

    /// Drops the faults not yet used; returns how many there were.
    pub fn clear(&self) -> usize {
        std::mem::take(&mut *self.faults.lock().unwrap()).len()
    }

    /// Faults not yet used.
    pub fn pending(&self) -> Vec<Fault> {
        self.faults.lock().unwrap().clone()
    }
}

fn proxy_one(
    mut client: std::net::TcpStream,
    upstream: u16,
    page: Option<usize>,
    faults: &std::sync::Mutex<Vec<Fault>>,
    failed: &std::sync::Mutex<Vec<String>>,
    forwarded: &std::sync::Mutex<Vec<String>>,
) {
    use std::io::{Read, Write};
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if buf.first().is_some_and(|b: &u8| !b.is_ascii_uppercase()) {
            // Not HTTP (a TLS hello: clients try HTTPS first on a loopback registry): pass it
            // through, so the registry answers and the client falls back to plain HTTP.
            break 0;
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut byte) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&byte[..n]),
        }
    };
    if head_end == 0 {
        let Ok(mut server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else { return };
        if server.write_all(&buf).is_err() {
            return;
        }
        return pipe(client, server);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or("").to_owned(), words.next().unwrap_or("").to_owned());
    if std::env::var_os("FAULT_PROXY_LOG").is_some() {
        eprintln!("proxy: {method} {path}");
    }
    let fault = {
        let mut faults = faults.lock().unwrap();
        let pos = faults.iter().position(|f| f.method == method && path.contains(f.path));
        pos.map(|i| faults.remove(i))
    };
    if let Some(fault) = fault {
        failed.lock().unwrap().push(format!("{method} {path} -> {:?}", fault.kind));
        if fault.kind == FaultKind::Status500 {
            // Read the body first, so the client sees the answer rather than a reset.
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut have = buf.len() - head_end;
            while have < length {
                match client.read(&mut byte) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => have += n,
                }
            }
            let _ = client.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\nfault\n");
        }
        let _ = client.shutdown(std::net::Shutdown::Both);
        return;
    }
    let Ok(mut server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else { return };
    forwarded.lock().unwrap().push(format!("{method} {path}"));
    let mut lines = head.trim_end().lines();
    let mut request = lines.next().unwrap_or("").to_owned();
    let paging = page.filter(|_| method == "GET" && path.contains("/tags/list"));
    let (base, query) = path.split_once('?').unwrap_or((&path, ""));
    if paging.is_some() {
        request = request.replacen(&path, base, 1);
    }
    let mut new_head: String = std::iter::once(request.as_str())
        .chain(lines.filter(|l| !l.to_ascii_lowercase().starts_with("connection:")))
        .map(|l| format!("{l}\r\n"))
        .collect();
    if let Some(n) = paging {
        new_head.push_str("Connection: close\r\n\r\n");
        let mut answer = Vec::new();
        if server.write_all(new_head.as_bytes()).is_err() || server.read_to_end(&mut answer).is_err() {
            return;
        }
        let text = String::from_utf8_lossy(&answer).into_owned();
        let (status_and_headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        if !status_and_headers.starts_with("HTTP/1.1 200") {
            let _ = client.write_all(&answer);
            return;
        }
        let mut list: serde_json::Value = serde_json::from_str(body).unwrap();
        let mut tags: Vec<String> =
            list["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
        tags.sort();
        let last = query.split('&').find_map(|kv| kv.strip_prefix("last=")).unwrap_or("");
        let after: Vec<String> = tags.into_iter().filter(|t| t.as_str() > last).collect();
        let more = after.len() > n;
        let shown: Vec<String> = after.into_iter().take(n).collect();
        let link = match shown.last() {
            Some(end) if more => format!("Link: <{base}?n={n}&last={end}>; rel=\"next\"\r\n"),
            _ => String::new(),
        };
        list["tags"] = shown.into();
        let body = list.to_string();
        let _ = write!(
            client,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{link}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    new_head.push_str("Connection: close\r\n\r\n");
    if server.write_all(new_head.as_bytes()).is_err() || server.write_all(&buf[head_end..]).is_err() {
        return;
    }
    pipe(client, server);
}

/// Copies both ways until the server closes.
fn pipe(mut client: std::net::TcpStream, mut server: std::net::TcpStream) {
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = up.join();
}

/// A registry, a cargo registry and a scratch workspace, and `cargo xtask` run against them with
/// the registry's credentials (the publish and registry-over-time tests).
pub struct StackEnv {
    pub reg: Registry,
    pub crates: CargoRegistry,
    pub ws: TestRepo,
}

impl StackEnv {
    /// `cargo xtask ARGS` with the cargo registry's own token.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_token(&self.crates.token, args)
    }

    /// `cargo xtask ARGS` with `token` as the cargo registry's token (empty: none). Neither the
    /// registry's password nor the token may appear in what the run prints.
    pub fn run_with_token(&self, token: &str, args: &[&str]) -> Output {
        let mut cmd = self.reg.xtask(self.ws.path(), args);
        for (k, v) in self.crates.cargo_env(token) {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let printed = stdout(&out) + &stderr(&out);
        for secret in [self.reg.password.as_str(), token].into_iter().filter(|s| !s.is_empty()) {
            assert!(!printed.contains(secret), "`{}` printed a secret:\n{printed}", args.join(" "));
        }
        out
    }
}

/// A cosign key pair made in a temp dir: the private key's contents (its file is removed: the
/// pipeline gets it from the environment only), its password and the public key's path.
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub private: String,
    pub password: String,
}

impl Keys {
    /// A key pair whose password is made now: the test's source (copied into every scratch
    /// workspace) cannot hold it, so finding it on disk means the run left it there.
    pub fn generate(label: &str) -> Keys {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let password = &format!("{label}-{}-{nanos}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("cosign")
            .arg("generate-key-pair")
            .current_dir(dir.path())
            .env("COSIGN_PASSWORD", password)
            .output()
            .expect("cosign (scripts/onboard.sh installs it)");
        assert_ok(&out);
        let private = std::fs::read_to_string(dir.path().join("cosign.key")).unwrap();
        Keys { dir, private, password: password.to_owned() }
    }

    /// Removes the private key's file, once whatever needed it as a file is done.
    pub fn forget_file(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("cosign.key"));
    }

    pub fn public(&self) -> std::path::PathBuf {
        self.dir.path().join("cosign.pub")
    }

    /// A line of the key's body: what would show up if the key leaked anywhere.
    pub fn body_line(&self) -> &str {
        self.private.lines().nth(3).unwrap()
    }
}
