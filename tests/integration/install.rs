//! Installed like a real tool: the shell completion scripts and man pages the binary generates
//! from its own command-line definitions (the Debian package ships them), and the config the
//! package installs in /etc/skimwatch. `.ci/package` builds and inspects the package itself.

use assert_cmd::Command;
use std::path::Path;

fn skimwatch() -> Command {
    let mut cmd = Command::cargo_bin("skimwatch").unwrap();
    cmd.timeout(crate::util::RUN_TIMEOUT);
    cmd
}

fn completions(shell: &str) -> String {
    let out = skimwatch().args(["completions", shell]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "completions {shell}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "completions {shell} logs nothing: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The words after `[…] ` on a line the completion probe printed.
fn offered(line: &str) -> Vec<&str> {
    line.split_once("] ").map(|(_, words)| words.split(' ').collect()).unwrap_or_default()
}

fn run_bash(script: &str, args: &[&Path]) -> std::process::Output {
    std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script, "bash"])
        .args(args)
        .output()
        .expect("bash runs")
}

#[test]
fn bash_completion_loads_and_completes_commands_flags_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("skimwatch.bash");
    std::fs::write(&file, completions("bash")).unwrap();

    let syntax = run_bash(r#"bash -n "$1""#, &[&file]);
    assert!(syntax.status.success(), "bash -n: {}", String::from_utf8_lossy(&syntax.stderr));

    // Source it as bash-completion would, then ask the completion function what it offers, the
    // way bash calls it on <Tab>: `$1` the command, `$2` the word being completed, `$3` the one
    // before it.
    let script = r#"
        set -u
        source "$1"
        complete -p skimwatch
        comp() {
            COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()
            _skimwatch skimwatch "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            echo "[$*] ${COMPREPLY[*]}"
        }
        comp skimwatch sc
        comp skimwatch baseline ap
        comp skimwatch scan --fail
        comp skimwatch scan --format ''
        comp skimwatch completions ''
    "#;
    let out = run_bash(script, &[&file]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "sourcing: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("complete ") && lines[0].contains(" -F _skimwatch ") && lines[0].ends_with(" skimwatch"),
        "{stdout}"
    );
    assert_eq!(offered(lines[1]), ["scan"], "{stdout}");
    assert_eq!(offered(lines[2]), ["approve"], "{stdout}");
    assert_eq!(offered(lines[3]), ["--fail-on"], "{stdout}");
    assert_eq!(offered(lines[4]), ["text", "json", "sarif", "junit"], "{stdout}");
    // A positional value: the shells, besides the flags bash always offers on an empty word.
    let values: Vec<&str> = offered(lines[5]).into_iter().filter(|w| !w.starts_with('-')).collect();
    assert_eq!(values, ["bash", "elvish", "fish", "powershell", "zsh"], "{stdout}");
}

#[test]
fn zsh_fish_elvish_and_powershell_completions_name_every_command() {
    let zsh = completions("zsh");
    assert!(zsh.starts_with("#compdef skimwatch\n"), "zsh autoloads by its first line: {}", &zsh[..zsh.len().min(200)]);
    let fish = completions("fish");
    assert!(fish.contains("complete -c skimwatch "), "fish");
    for (shell, script) in
        [("zsh", &zsh), ("fish", &fish), ("elvish", &completions("elvish")), ("powershell", &completions("powershell"))]
    {
        for word in ["scan", "baseline", "approve", "watch", "fail-on", "config", "completions", "manpage"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let out = skimwatch().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: bash, elvish, fish, powershell, zsh"));
}

#[test]
fn man_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = skimwatch().arg("manpage").arg(dir.path().join("man")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut pages: Vec<String> = std::fs::read_dir(dir.path().join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    for page in [
        "skimwatch.1",
        "skimwatch-scan.1",
        "skimwatch-watch.1",
        "skimwatch-baseline-approve.1",
        "skimwatch-completions.1",
        "skimwatch-manpage.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "{page} missing from {pages:?}");
    }
    assert!(!pages.iter().any(|p| p.contains("help")), "`help` gets no page: {pages:?}");
    // Every page it wrote is listed on stdout, one per line.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), pages.len());

    let top = std::fs::read_to_string(dir.path().join("man/skimwatch.1")).unwrap();
    assert!(top.contains(".TH skimwatch 1"), "title line");
    for section in [
        "SUBCOMMANDS",
        "FILES",
        "/etc/skimwatch/skimwatch.toml",
        "ENVIRONMENT",
        "SKIMWATCH_LOG",
        "SEE ALSO",
        "EXIT STATUS",
        "no finding at or above",
    ] {
        assert!(top.contains(section), "skimwatch.1 lacks {section}");
    }
    let scan = std::fs::read_to_string(dir.path().join("man/skimwatch-scan.1")).unwrap();
    assert!(scan.contains("fail\\-on") && scan.contains("sarif"), "skimwatch-scan.1 documents its flags");
}

/// The file the Debian package installs as /etc/skimwatch/skimwatch.toml.
fn packaged_config() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/deb/skimwatch.toml")).unwrap()
}

#[test]
fn packaged_config_refuses_to_run_until_a_page_is_listed_and_its_examples_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skimwatch.toml");
    let shipped = packaged_config();
    std::fs::write(&path, &shipped).unwrap();
    // As shipped, the daemon stops at once with a config error (exit 2, which the unit does not
    // restart on) instead of scanning a placeholder shop.
    let out = skimwatch().arg("--config").arg(&path).args(["watch", "--once"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("skimwatch.toml:1:1: page: no [[page]] tables"), "{err}");

    // Its commented-out examples are valid config: uncommented, every key is accepted and the
    // page is there to scan.
    let uncommented: String = shipped
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.starts_with('[') || rest.starts_with("# ") || rest.contains(" = ") => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(uncommented.contains("\n[[page]]\n") && uncommented.contains("\n[alerts.email]\n"), "{uncommented}");
    // Paths the test can write instead of the package's /var/lib/skimwatch.
    let uncommented = uncommented.replace("/var/lib/skimwatch/", &format!("{}/", dir.path().display()));
    std::fs::write(&path, &uncommented).unwrap();
    let out = skimwatch().arg("--config").arg(&path).args(["baseline", "show", "--format", "json"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}\n{uncommented}");
}
