//! The `stratakv` binary end to end: get/put/delete/scan, exit codes, and a small bench.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stratakv"))
}

#[test]
fn put_get_scan_delete_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let run = |args: &[&str]| {
        let out = bin().arg("--db").arg(&db).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert_eq!(run(&["put", "user:1", "ada"]).0, Some(0));
    assert_eq!(run(&["put", "user:2", "bob"]).0, Some(0));
    assert_eq!(run(&["put", "--hex", "ff00", "0a0b"]).0, Some(0));
    let (code, out, _) = run(&["get", "user:1"]);
    assert_eq!((code, out.as_str()), (Some(0), "ada\n"));
    let (code, out, _) = run(&["scan", "--prefix", "user:", "--reverse"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "user:2\tbob\nuser:1\tada\n")
    );
    let (_, out, _) = run(&["scan", "--start", "user:2"]);
    assert_eq!(
        out, "user:2\tbob\n\\xff\\x00\t\\n\\x0b\n",
        "binary bytes are escaped"
    );
    let (_, out, _) = run(&["scan", "--hex", "--limit", "1", "--start", "ff"]);
    assert_eq!(out, "ff00\t0a0b\n");
    assert_eq!(run(&["delete", "user:1"]).0, Some(0));
    assert_eq!(
        run(&["get", "user:1"]).0,
        Some(1),
        "missing key is an error"
    );
    assert_eq!(run(&["get"]).0, Some(2), "usage error");
    assert_eq!(
        run(&["get", "--hex", "zz"]).0,
        Some(2),
        "bad hex is a usage error"
    );
    // Locked: hold the directory open in this process.
    let held = stratakv::Db::open(&db).unwrap();
    assert_eq!(run(&["get", "user:2"]).0, Some(3));
    drop(held);
    // Corruption: damage CURRENT.
    std::fs::write(db.join("CURRENT"), b"MANIFEST-000099 00000000\n").unwrap();
    let (code, _, err) = run(&["get", "user:2"]);
    assert_eq!(code, Some(4), "{err}");
}

#[test]
fn bench_prints_a_table() {
    let out = bin()
        .args([
            "bench",
            "--num",
            "3000",
            "--workloads",
            "fillseq,fillrandom,readrandom,readseq",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    for w in [
        "fillseq",
        "fillrandom",
        "readrandom",
        "readseq",
        "ops/s",
        "p99 us",
    ] {
        assert!(s.contains(w), "missing {w} in:\n{s}");
    }
    assert!(s.contains("3000 of 3000 found"), "{s}");
}
