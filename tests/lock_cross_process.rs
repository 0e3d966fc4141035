//! A directory locked by this process cannot be opened by another one.

use std::process::Command;

use stratakv::Db;

/// Run as a child by `second_open_from_another_process_is_locked`.
#[test]
fn child_tries_to_open() {
    let Ok(dir) = std::env::var("STRATAKV_LOCK_CHILD_DIR") else {
        return; // only meaningful as a child process
    };
    match Db::open(&dir) {
        Err(e) if e.is_locked() => std::process::exit(42),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => std::process::exit(43),
    }
}

/// Exit code of a child process running `child_tries_to_open` on `dir`.
fn child_exit_code(dir: &std::path::Path) -> Option<i32> {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_tries_to_open",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STRATAKV_LOCK_CHILD_DIR", dir)
        .status()
        .unwrap()
        .code()
}

#[test]
fn second_open_from_another_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    assert_eq!(
        child_exit_code(dir.path()),
        Some(42),
        "the child must see is_locked()"
    );
    db.close().unwrap();
    assert_eq!(
        child_exit_code(dir.path()),
        Some(43),
        "after close the child can open it"
    );
}
