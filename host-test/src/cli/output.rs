//! How the CLI shows times and what the embedded emulator received.

use host_test::emulator::Emulator;

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (civil-from-days, proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn print_emulator_log(emu: &Emulator) {
    let key = emu.app_key();
    let requests = emu.requests();
    if requests.is_empty() {
        println!("The emulator received no request.");
        return;
    }
    println!("The emulator received:");
    for r in requests {
        let auth = r
            .header("authorization")
            .map(|a| a.replace(&key, &format!("{}…", &key[..6])))
            .unwrap_or_else(|| "(no Authorization)".into());
        let q = if r.query.is_empty() {
            String::new()
        } else {
            format!("?{}", r.query)
        };
        println!(
            "  {} {}{q} -> {}  [Authorization: {auth}]",
            r.method, r.path, r.status
        );
        if !r.body.is_empty() {
            println!("      {}", String::from_utf8_lossy(&r.body));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formatting() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
