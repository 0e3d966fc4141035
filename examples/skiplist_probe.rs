use std::time::Instant;
use stratakv::memtable::skiplist::SkipList;
fn main() {
    for vlen in [0usize, 100] {
        let l = SkipList::new(stratakv::key::compare_internal);
        let v = vec![7u8; vlen];
        let mut x: u64 = 1;
        let n: u64 = std::env::args()
            .nth(1)
            .and_then(|a| a.parse().ok())
            .unwrap_or(500_000);
        let t = Instant::now();
        for i in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = format!("{:016}", x % 1_000_000);
            l.insert(&[k.as_bytes(), &i.to_le_bytes()], &v);
        }
        println!(
            "value {vlen}: {:.0} ns/insert",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    }
}
