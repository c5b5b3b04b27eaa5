//! Building the short strings of the hot path (KV keys, records, signed values) without
//! `format!`: its machinery costs more than the work in a component, where it cannot be
//! inlined. One allocation of the exact size each.

/// The parts, one after another.
pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// `n` in decimal, appended.
pub fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Lowercase hexadecimal of `bytes`, appended.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[(b >> 4) as usize]));
        out.push(char::from(DIGITS[(b & 15) as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_writes_what_format_would() {
        assert_eq!(concat(&["ledger/v1/", "a", "/", "키"]), "ledger/v1/a/키");
        assert_eq!(concat(&[]), "");
        for n in [0, 7, 1_700_000_000_000, u64::MAX] {
            let mut s = String::from("x");
            push_u64(&mut s, n);
            assert_eq!(s, format!("x{n}"));
            let mut h = String::new();
            push_hex(&mut h, &n.to_be_bytes());
            assert_eq!(h, format!("{n:016x}"));
        }
    }
}
