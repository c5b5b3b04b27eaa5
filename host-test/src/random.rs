//! `wasi:random/random`: bytes from the operating system's secure generator.

use crate::bindings::wasi::random::random::Host;

/// A guest asking for more than this gets this many: the host does not allocate on demand.
pub const MAX_RANDOM_BYTES: u64 = 64 * 1024;

pub struct RandomState;

impl Host for RandomState {
    fn get_random_bytes(&mut self, len: u64) -> Vec<u8> {
        let mut buf = vec![0u8; len.min(MAX_RANDOM_BYTES) as usize];
        // The OS generator failing is not recoverable for a sandbox that needs secrets.
        getrandom::fill(&mut buf).expect("the operating system's random generator failed");
        buf
    }

    fn get_random_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("the operating system's random generator failed");
        u64::from_le_bytes(b)
    }
}
