//! Lost update: 8 threads x 2,000 increments of one counter through `db.update`: the final
//! count is exact.

use stratakv::Db;

#[test]
fn concurrent_increments_are_never_lost() {
    let db = Db::open_temp().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    db.update(|tx| {
                        let n = tx
                            .get(b"counter")?
                            .map_or(0, |v| u64::from_le_bytes(v[..].try_into().unwrap()));
                        tx.put(b"counter", (n + 1).to_le_bytes())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let v = db.get(b"counter").unwrap().unwrap();
    assert_eq!(u64::from_le_bytes(v[..].try_into().unwrap()), 16_000);
}
