//! Property: for random histories, previous version tag < dev version < the next patch release.
mod common;
use common::*;
use proptest::prelude::*;
use semver::Version;

#[derive(Debug, Clone)]
enum Step {
    Commit,
    Tag(u64, u64, u64),
    Branch,
    Merge,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Commit),
        1 => (0u64..3, 0u64..5, 0u64..10).prop_map(|(a, b, c)| Step::Tag(a, b, c)),
        1 => Just(Step::Branch),
        1 => Just(Step::Merge),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn dev_version_sits_between_the_tag_and_the_next_patch(steps in prop::collection::vec(step(), 1..25)) {
        let repo = TestRepo::new();
        repo.commit("root");
        let mut on_side = false;
        let mut n = 0;
        for s in steps {
            n += 1;
            match s {
                Step::Commit => { repo.commit(&format!("c{n}")); }
                Step::Tag(a, b, c) => { let _ = repo.git_cmd_ok(&["tag", &format!("{a}.{b}.{c}")]); }
                Step::Branch => {
                    let target = if on_side { "main" } else { "side" };
                    if target == "side" && !repo.has_branch("side") { repo.git(&["branch", "side"]); }
                    repo.git(&["checkout", "-q", target]);
                    on_side = !on_side;
                }
                Step::Merge => {
                    let other = if on_side { "main" } else { "side" };
                    if repo.has_branch(other) { repo.git(&["merge", "-q", "--no-edit", other]); }
                }
            }
        }
        repo.commit("last");
        let j: serde_json::Value = serde_json::from_str(&repo.version("json")).unwrap();
        let v = Version::parse(j["semver"].as_str().unwrap()).unwrap();
        prop_assert!(!v.pre.is_empty(), "HEAD is past every tag, so a dev version: {v}");
        match j["tag"].as_str() {
            Some(tag) => {
                let base = Version::parse(tag).unwrap();
                let next = Version::new(base.major, base.minor, base.patch + 1);
                prop_assert!(base < v && v < next, "{base} < {v} < {next}");
                // The base is the highest tag merged into HEAD.
                let merged = repo.git(&["tag", "--merged", "HEAD"]);
                let highest = merged.lines().filter_map(|t| Version::parse(t).ok()).max().unwrap();
                prop_assert_eq!(highest, base);
                let count: u64 = repo.git(&["rev-list", "--count", &format!("{tag}..HEAD")]).parse().unwrap();
                prop_assert_eq!(j["distance"].as_u64().unwrap(), count);
            }
            None => prop_assert!(v < Version::new(0, 1, 0)),
        }
    }
}

trait RepoExt {
    fn has_branch(&self, name: &str) -> bool;
    fn git_cmd_ok(&self, args: &[&str]) -> bool;
}

impl RepoExt for TestRepo {
    fn has_branch(&self, name: &str) -> bool {
        git_cmd(self.path()).args(["rev-parse", "--verify", "-q", name]).output().unwrap().status.success()
    }
    fn git_cmd_ok(&self, args: &[&str]) -> bool {
        git_cmd(self.path()).args(args).output().unwrap().status.success()
    }
}
