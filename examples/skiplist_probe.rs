use std::time::Instant;
use stratakv::memtable::skiplist::SkipList;
use stratakv::memtable::InternalOrder;
use stratakv::sstable::filter::key_hash;
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    for vlen in [0usize, 100] {
        // Indexed as a memtable of the same entries would be (one slot per 48 bytes).
        let l: SkipList<InternalOrder> = SkipList::new(n as usize * (40 + vlen) / 48);
        let v = vec![7u8; vlen];
        let mut x: u64 = 1;
        let t = Instant::now();
        for i in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = format!("{:016}", x % 1_000_000);
            l.insert(
                &[k.as_bytes(), &i.to_le_bytes()],
                &v,
                key_hash(k.as_bytes()),
            );
        }
        println!(
            "value {vlen}: {:.0} ns/insert",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    }
}
