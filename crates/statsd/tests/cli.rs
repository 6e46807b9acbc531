//! The binary's command line: `--help`, and a bad flag refused before anything binds.

use std::process::Command;

#[test]
fn help_names_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_shoal-statsd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--udp",
        "--admin",
        "--workers",
        "--flush-interval",
        "--flush",
        "--rcvbuf",
        "--percentiles",
        "--max-metrics",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_shoal-statsd"))
        .args(["--workers", "none"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--workers"), "{err}");
}
