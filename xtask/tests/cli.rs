//! The command line a person meets: help, typos, and the onboarding script on another OS.
mod common;
use common::*;

const COMMANDS: &[&str] = &["version", "dist", "distcopy", "release", "dev-release", "ci", "publish", "qemu", "doctor"];

#[test]
fn help_lists_every_command_with_an_example() {
    let out = xtask_in(&workspace_root(), &["--help"]);
    assert_ok(&out);
    let help = stdout(&out);
    for command in COMMANDS {
        assert!(help.contains(&format!("xtask {command}\n")), "--help lacks {command}:\n{help}");
    }
    assert!(help.matches("Example: cargo xtask").count() >= COMMANDS.len(), "{help}");
    let out = xtask_in(&workspace_root(), &["dev-release", "--help"]);
    assert!(stdout(&out).contains("--branch <branch>"), "{}", stdout(&out));
    // xflags prints a doc comment's double quotes escaped: `\"Several services\"`.
    let more = ["reconcile", "prune", "retract", "verify", "merge"];
    for command in COMMANDS.iter().chain(&more).map(|c| vec![*c, "--help"]).chain([vec!["--help"]]) {
        let help = stdout(&xtask_in(&workspace_root(), &command));
        assert!(!help.contains("\\\""), "`{}` prints an escaped quote:\n{help}", command.join(" "));
    }
}

/// `bench` is this repository's own command: the library's help (what every adopter's
/// `cargo xtask --help` prints) does not list it, and this workspace's xtask still runs it.
#[test]
fn bench_is_this_repositorys_not_the_librarys() {
    let out = xtask_in(&workspace_root(), &["--help"]);
    assert_ok(&out);
    assert!(!stdout(&out).contains("bench"), "the library's --help lists bench:\n{}", stdout(&out));
    let out = xtask_in(&workspace_root(), &["bench", "--help"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("--quick") && stdout(&out).contains("BENCHMARKS.md"), "{}", stdout(&out));
    let out = xtask_in(&workspace_root(), &["bench", "--slow"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--slow"), "{}", stderr(&out));
}

#[test]
fn a_typo_suggests_the_nearest_command() {
    let out = xtask_in(&workspace_root(), &["verison"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("a command with a similar name exists: `version`"), "{}", stderr(&out));
    let out = xtask_in(&workspace_root(), &["dev-relase"]);
    assert!(stderr(&out).contains("`dev-release`"), "{}", stderr(&out));
}

#[test]
fn onboarding_on_another_os_installs_nothing_and_says_what_to_install() {
    let os = tempfile::tempdir().unwrap();
    let release = os.path().join("os-release");
    std::fs::write(&release, "ID=fedora\nPRETTY_NAME=\"Fedora Linux 40\"\n").unwrap();
    let out = std::process::Command::new("bash")
        .arg(workspace_root().join("scripts/onboard.sh"))
        .env("ONBOARD_OS_RELEASE", &release)
        .output()
        .unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("not Debian or Ubuntu (Fedora Linux 40): nothing installed"), "{text}");
    assert!(text.contains("rustup targets") && text.contains("buildx"), "{text}");
}
