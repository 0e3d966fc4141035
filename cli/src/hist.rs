//! A log-linear latency histogram (16 sub-buckets per power of two: under 6.25% error).

/// Latencies in nanoseconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

const SUB: u32 = 16;

fn bucket(ns: u64) -> usize {
    let ns = ns.max(1);
    let exp = 63 - ns.leading_zeros();
    if exp < 4 {
        return ns as usize;
    }
    let sub = (ns >> (exp - 4)) as u32 & (SUB - 1);
    ((exp - 3) * SUB + sub) as usize
}

fn bucket_low(i: usize) -> u64 {
    let i = i as u32;
    if i < SUB {
        return u64::from(i);
    }
    let (exp, sub) = (i / SUB + 3, i % SUB);
    (1u64 << exp) + (u64::from(sub) << (exp - 4))
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 64 * SUB as usize],
            count: 0,
        }
    }
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, ns: u64) {
        self.record_n(ns, 1);
    }

    /// Records `n` latencies of `ns` each.
    pub fn record_n(&mut self, ns: u64, n: u64) {
        self.buckets[bucket(ns)] += n;
        self.count += n;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.count += o.count;
    }

    /// The latency at quantile `q` (0..=1), in nanoseconds (bucket lower bound).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= target {
                return bucket_low(i);
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_close() {
        let mut h = Histogram::default();
        for ns in 1..=10_000u64 {
            h.record(ns * 100);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.07, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.07, "{p99}");
        for i in 0..600 {
            assert!(bucket_low(i) <= bucket_low(i + 1));
        }
    }
}
