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
    let (_, out, _) = run(&["get", "user:1", "--json"]);
    assert_eq!(out, "{\"key\":\"user:1\",\"value\":\"ada\"}\n");
    let (_, out, _) = run(&["scan", "--json", "--start", "user:2"]);
    assert_eq!(
        out,
        "{\"key\":\"user:2\",\"value\":\"bob\"}\n{\"key_hex\":\"ff00\",\"value\":\"\\n\\u000b\"}\n",
        "JSON lines; bytes that are not UTF-8 as hex"
    );
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

/// Runs `stratakv bench ARGS`, which must succeed; returns its standard output.
fn bench_ok(args: &[&str]) -> String {
    let out = bin().arg("bench").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn bench_prints_a_table() {
    let s = bench_ok(&[
        "--num",
        "3000",
        "--workloads",
        "fillseq,fillrandom,readrandom,readseq",
    ]);
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

#[test]
fn bench_runs_every_workload() {
    let all = "fillrandom,overwrite,readmissing,seekrandom,readwhilewriting,ycsba,ycsbb,\
               ycsbc,ycsbd,ycsbe,ycsbf,txnrmw,txncontended,deleterandom";
    let s = bench_ok(&[
        "--num",
        "2000",
        "--threads",
        "2",
        "--workloads",
        all,
        "--value-size",
        "5000",
        "--settle",
    ]);
    for w in all.split(',') {
        assert!(
            s.lines().any(|l| l.starts_with(w)),
            "no row for {w} in:\n{s}"
        );
    }
    assert!(s.contains("seek + 10 next"), "{s}");
    assert!(s.contains("1 writer:"), "{s}");
    assert!(s.contains("zipfian 0.99"), "{s}");
    assert!(s.contains("value log from 4096 B"), "{s}");
    let bad = bin()
        .args(["bench", "--num", "10", "--workloads", "ycsbz"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "unknown workload is a usage error"
    );
}

fn run_in(db: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().arg("--db").arg(db).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn inspection_and_maintenance_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let d = stratakv::Db::open(&db).unwrap();
        for i in 0..2_000u32 {
            d.put(format!("key{i:05}"), format!("value,{i}")).unwrap();
        }
        for i in 0..20u32 {
            d.put(format!("big{i:02}"), vec![b'0' + (i % 10) as u8; 5000])
                .unwrap();
        }
        for i in 0..20u32 {
            d.put(format!("big{i:02}"), vec![b'x'; 6000]).unwrap();
        }
        d.flush().unwrap();
        d.put(b"in-wal", b"1").unwrap();
        d.close().unwrap();
    }
    let (code, out, _) = run_in(&db, &["stats", "--json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["levels"].is_array());
    let (_, out, _) = run_in(&db, &["stats", "--prometheus"]);
    assert!(
        out.contains("# TYPE stratakv_writes_total counter"),
        "{out}"
    );
    let (_, out, _) = run_in(&db, &["stats"]);
    assert!(out.contains("write amplification"));
    let (code, out, _) = run_in(&db, &["compact"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out, _) = run_in(&db, &["manifest"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("L1: 1 tables") && out.contains("keys big00 .. key01999"),
        "{out}"
    );
    let sst = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sst"))
        .unwrap();
    let (code, out, _) = run_in(&db, &["sst", sst.to_str().unwrap(), "--entries"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("entries: 2021") && out.contains("key00042 @"),
        "{out}"
    );
    let wal = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let (code, out, _) = run_in(&db, &["wal", wal.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0));
    assert!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["records"].is_array());
    let (code, out, _) = run_in(&db, &["verify"]);
    assert_eq!(
        (code, out.contains("no damage found")),
        (Some(0), true),
        "{out}"
    );

    let (code, out, _) = run_in(&db, &["vlog"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(".vlog") && out.contains("sealed"), "{out}");
    let (code, out, _) = run_in(&db, &["vlog", "--json"]);
    assert_eq!(code, Some(0));
    let files: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        files["files"][0]["discard_ratio"].as_f64().unwrap() > 0.3,
        "{out}"
    );
    let vlog = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "vlog"))
        .unwrap();
    let (code, out, _) = run_in(&db, &["vlog", "dump", vlog.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(out.contains("big07 = 5000 bytes"), "{out}");
    // GC only when asked, at a ratio the store passes.
    let conf = dir.path().join("gc.toml");
    std::fs::write(
        &conf,
        "vlog_gc_discard_ratio = 0.2\nvlog_gc_background = false\n",
    )
    .unwrap();
    let (code, out, _) = run_in(&db, &["--config", conf.to_str().unwrap(), "vlog", "gc"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 files collected"), "{out}");
    let (_, out, _) = run_in(&db, &["get", "big07"]);
    assert_eq!(out.trim_end(), "x".repeat(6000));

    // Export and import, JSON lines and CSV (with a comma inside values).
    for format in ["jsonl", "csv"] {
        let (code, out, _) = run_in(&db, &["export", "--format", format, "--prefix", "key0000"]);
        assert_eq!(code, Some(0));
        assert_eq!(out.lines().count(), 10);
        let file = dir.path().join(format!("export.{format}"));
        std::fs::write(&file, &out).unwrap();
        let other = dir.path().join(format!("imported-{format}"));
        let (code, out, err) = run_in(
            &other,
            &["import", file.to_str().unwrap(), "--format", format],
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("imported 10 records"));
        let (_, out, _) = run_in(&other, &["get", "key00003"]);
        assert_eq!(out, "value,3\n");
    }
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"key\": \"a\", \"value\": \"1\"}\nnot json\n").unwrap();
    let fresh = dir.path().join("fresh");
    assert_eq!(
        run_in(&fresh, &["import", bad.to_str().unwrap()]).0,
        Some(2)
    );
    assert_eq!(
        run_in(&fresh, &["get", "a"]).0,
        Some(1),
        "a bad file applies nothing"
    );

    // Checkpoint, then damage a table: verify exits 4.
    let cp = dir.path().join("cp");
    assert_eq!(
        run_in(&db, &["checkpoint", cp.to_str().unwrap()]).0,
        Some(0)
    );
    assert_eq!(run_in(&cp, &["get", "in-wal"]).1, "1\n");
    let mut bytes = std::fs::read(&sst).unwrap();
    bytes[100] ^= 0x40;
    std::fs::remove_file(&sst).unwrap(); // the checkpoint's hard link keeps its own copy
    std::fs::write(&sst, bytes).unwrap();
    let (code, out, _) = run_in(&db, &["verify"]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains(sst.file_name().unwrap().to_str().unwrap()));
    assert_eq!(
        run_in(&cp, &["verify"]).0,
        Some(0),
        "the checkpoint is unaffected"
    );
}

#[test]
fn a_closed_output_pipe_ends_commands_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let d = stratakv::Db::open(&db).unwrap();
        for i in 0..20_000u32 {
            d.put(format!("key{i:06}"), [b'v'; 100]).unwrap();
        }
        d.close().unwrap();
    }
    for args in [&["scan"][..], &["stats"], &["manifest"], &["export"]] {
        let mut child = bin()
            .arg("--db")
            .arg(&db)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before reading anything (as `| head -0` does).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}
