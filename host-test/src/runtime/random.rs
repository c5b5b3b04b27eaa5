//! `wasi:random/random`: bytes from the operating system's secure generator, read 256 at a
//! time, so that a send's nonce costs no system call of its own.

use crate::bindings::wasi::random::random::Host;

/// A guest asking for more than this gets this many: the host does not allocate on demand.
pub const MAX_RANDOM_BYTES: u64 = 64 * 1024;
const BATCH: usize = 256;

/// The OS generator failing is not recoverable for a sandbox that needs secrets.
fn os_fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random generator failed");
}

pub struct RandomState {
    buf: [u8; BATCH],
    /// Bytes of `buf` already handed out (each is zeroed when it is).
    used: usize,
}

impl Default for RandomState {
    fn default() -> Self {
        Self {
            buf: [0; BATCH],
            used: BATCH,
        }
    }
}

impl RandomState {
    fn take(&mut self, out: &mut [u8]) {
        if out.len() > BATCH {
            return os_fill(out);
        }
        if self.used + out.len() > BATCH {
            os_fill(&mut self.buf);
            self.used = 0;
        }
        let taken = &mut self.buf[self.used..self.used + out.len()];
        out.copy_from_slice(taken);
        taken.fill(0);
        self.used += out.len();
    }
}

impl Host for RandomState {
    fn get_random_bytes(&mut self, len: u64) -> Vec<u8> {
        let mut buf = vec![0u8; len.min(MAX_RANDOM_BYTES) as usize];
        self.take(&mut buf);
        buf
    }

    fn get_random_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.take(&mut b);
        u64::from_le_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_do_not_repeat_across_batches_and_large_asks_are_served() {
        let mut r = RandomState::default();
        let mut seen = std::collections::HashSet::new();
        // Five batches' worth: a repeated u64 would mean a batch was handed out twice.
        for _ in 0..(5 * BATCH / 8) {
            assert!(seen.insert(r.get_random_u64()));
        }
        let big = r.get_random_bytes(4096);
        assert_eq!(big.len(), 4096);
        assert!(big.iter().any(|b| *b != 0));
        assert_eq!(
            r.get_random_bytes(u64::MAX).len(),
            MAX_RANDOM_BYTES as usize
        );
    }
}
