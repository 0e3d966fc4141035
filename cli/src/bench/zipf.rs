//! Zipfian key choice as YCSB draws it (Gray et al., "Quickly generating billion-record
//! synthetic databases", SIGMOD 1994), with ranks scrambled over the key space so that the
//! hot keys are not all neighbours.

/// A Zipfian distribution over `0..n` with exponent `theta` (YCSB: 0.99).
#[derive(Debug, Clone)]
pub struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

impl Zipf {
    /// The distribution over `0..n` (n >= 1); O(n) to set up.
    pub fn new(n: u64, theta: f64) -> Zipf {
        let n = n.max(1);
        let zetan = zeta(n, theta);
        let zeta2 = zeta(2.min(n), theta);
        Zipf {
            n,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta: (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan),
        }
    }

    /// The rank (0 = most popular) for a uniform `u` in [0, 1).
    pub fn rank(&self, u: f64) -> u64 {
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.n - 1);
        }
        let r = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.n - 1)
    }

    /// A key index for a uniform `u`: the rank scrambled over `0..n` (YCSB's
    /// "scrambled Zipfian").
    pub fn key(&self, u: f64) -> u64 {
        scramble(self.rank(u)) % self.n
    }
}

/// A fixed 64-bit mix (SplitMix64's finalizer).
pub fn scramble(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from a 64-bit hash.
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_as_zipf_0_99() {
        let z = Zipf::new(10_000, 0.99);
        let mut counts = vec![0u64; 10_000];
        for i in 0..200_000u64 {
            counts[z.rank(unit(scramble(i))) as usize] += 1;
        }
        // Rank 0 takes about 1/zeta(n) of draws (~10% for n = 10K, theta 0.99).
        let top = counts[0] as f64 / 200_000.0;
        assert!((0.07..0.14).contains(&top), "top share {top}");
        assert!(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[1000]);
        let k = z.key(0.5);
        assert!(k < 10_000);
    }
}
