//! The summary at the end of `cargo xtask test`: a line per suite, the totals, then every
//! failure again, so that one run shows them all in one place.

use std::fmt;
use std::time::Duration;

use crate::suites::SuiteResult;

pub struct Summary<'a> {
    pub results: &'a [SuiteResult],
    pub setup: String,
    pub elapsed: Duration,
}

impl Summary<'_> {
    pub fn all_passed(&self) -> bool {
        self.results.iter().all(SuiteResult::ok)
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{}m {:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{s:.1}s")
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n=== summary")?;
        writeln!(f, "{}", self.setup)?;
        let width = self
            .results
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(0);
        writeln!(
            f,
            "{:<8} {:<width$} {:>6} {:>6} {:>7} {:>8}  result",
            "group", "suite", "passed", "failed", "skipped", "time"
        )?;
        let mut hidden = 0;
        for r in self.results {
            // A name filter leaves most binaries with nothing to run: count them, not list.
            if r.reported && r.ok() && r.passed + r.ignored == 0 && !r.aggregate {
                hidden += 1;
                continue;
            }
            let result = match (&r.problem, r.failed) {
                (Some(p), _) => format!("FAILED: {p}"),
                (None, 0) => "ok".to_owned(),
                (None, _) => "FAILED".to_owned(),
            };
            writeln!(
                f,
                "{:<8} {:<width$} {:>6} {:>6} {:>7} {:>8}  {result}",
                r.group,
                r.name,
                r.passed,
                r.failed,
                r.ignored,
                secs(r.time)
            )?;
        }
        if hidden > 0 {
            writeln!(
                f,
                "({hidden} suites ran no test: they have none, or none matched)"
            )?;
        }
        let passed: u32 = self.results.iter().map(|r| r.passed).sum();
        let failed: u32 = self.results.iter().map(|r| r.failed).sum();
        let broken = self.results.iter().filter(|r| r.problem.is_some()).count();
        writeln!(
            f,
            "total: {passed} passed, {failed} failed, {broken} suites that could not report, \
             in {}",
            secs(self.elapsed)
        )?;
        if self.all_passed() {
            return writeln!(f, "all suites passed");
        }
        writeln!(f, "failures:")?;
        for r in self.results.iter().filter(|r| !r.ok()) {
            if let Some(p) = &r.problem {
                writeln!(f, "  {} {}: {p}", r.group, r.name)?;
            }
            for t in &r.failures {
                writeln!(f, "  {} {}: {t}", r.group, r.name)?;
                if let Some(why) = r.why.get(t) {
                    writeln!(f, "      {why}")?;
                }
            }
            if r.problem.is_none() && r.failures.is_empty() {
                writeln!(f, "  {} {}: {} failed", r.group, r.name, r.failed)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failure_anywhere_fails_the_run_and_is_listed_at_the_end() {
        let results = vec![
            SuiteResult {
                group: "rust",
                name: "cli (tests/cli.rs)".into(),
                passed: 30,
                reported: true,
                ..Default::default()
            },
            SuiteResult {
                group: "openclaw",
                name: "gateway.test.js".into(),
                passed: 7,
                failed: 1,
                failures: vec!["answers the second turn".into()],
                why: [(
                    "answers the second turn".into(),
                    "AssertionError: turn 2: no modal".into(),
                )]
                .into(),
                reported: true,
                ..Default::default()
            },
        ];
        let mut results = results;
        results.push(SuiteResult {
            group: "rust",
            name: "(cargo test in all)".into(),
            reported: true,
            aggregate: true,
            ..Default::default()
        });
        let s = Summary {
            results: &results,
            setup: "set-up: redis-server".into(),
            elapsed: Duration::from_secs(75),
        };
        assert!(!s.all_passed());
        let text = s.to_string();
        assert!(text.contains("total: 37 passed, 1 failed"), "{text}");
        assert!(text.contains("in 1m 15s"), "{text}");
        assert!(
            text.contains(
                "  openclaw gateway.test.js: answers the second turn\n      \
                 AssertionError: turn 2: no modal\n"
            ),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("rust ") && l.ends_with("ok"))
        );
    }
}
