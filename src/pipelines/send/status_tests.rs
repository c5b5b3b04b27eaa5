use super::*;
use crate::testkit::*;

/// Two hosts share one workspace budget; the first one's clock runs 10 minutes ahead. It
/// spends the budget in its own time; the other host's next send is deferred by at most the
/// limiter's bound (60 s), not by ten minutes.
#[test]
fn a_host_whose_clock_runs_ahead_defers_another_hosts_send_a_bounded_time() {
    let ch = configured(
        r#"{"rateLimit": {"requestsPerMinute": 2, "burst": 1}}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    let ahead = FixedClock(std::cell::Cell::new(w.clock.0.get() + 10 * 60_000));
    let http = ScriptedHttp::new(vec![(200, &sent(1))]);
    let fast = Ports {
        clock: &ahead,
        ..w.ports(&http)
    };
    ch.send(&fast, &req_k("5", "a", "a")).unwrap();
    // The other host, on the right time, with its own instance.
    let other = configured(
        r#"{"rateLimit": {"requestsPerMinute": 2, "burst": 1}}"#,
        &[("default", CredentialSource::Env)],
    );
    let none = ScriptedHttp::new(vec![]);
    match other
        .send(&w.ports(&none), &req_k("5", "b", "b"))
        .unwrap_err()
    {
        ChannelError::Deferred(ms) => {
            assert!(ms <= crate::state::limiter::MAX_AHEAD_MS + 1_000, "{ms} ms")
        }
        e => panic!("{e:?}"),
    }
    assert!(none.requests().is_empty());
}

/// The ledger answers for a send whose outcome a host lost, without sending anything.
#[test]
fn send_status_reads_the_ledger_and_sends_nothing() {
    use crate::contract::records::SendState;
    let ch = configured(
        r#"{"textChunkLimit": 16}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    let none = ScriptedHttp::new(vec![]);
    let status = |key: &str| ch.send_status(&w.ports(&none), None, key).unwrap();
    // Never sent.
    assert_eq!(status("nothing"), SendState::NotSent);
    // Sent: the receipt with the real message id.
    let ok = ScriptedHttp::new(vec![(200, &sent(7))]);
    ch.send(&w.ports(&ok), &req_k("5", "hello", "whole"))
        .unwrap();
    match status("whole") {
        SendState::Sent(r) => assert_eq!(r.message_id.as_deref(), Some("7")),
        s => panic!("{s:?}"),
    }
    // Stored, then a 5xx (at-most-once): unknown, with the reason.
    let e500 = ScriptedHttp::new(vec![(500, E500)]);
    ch.send(&w.ports(&e500), &req_k("5", "x", "ambiguous"))
        .unwrap();
    match status("ambiguous") {
        SendState::Unknown(why) => assert!(why.contains("part 1/1"), "{why}"),
        s => panic!("{s:?}"),
    }
    // The first part went, the second was refused before it left: what went, and no more.
    let text = "aaaaaaaaaaaaaaa bbbbbbbbbbbbbbb";
    let bad = r#"{"success":false,"error":{"code":"invalid_parameter","message":"x"}}"#;
    let part = ScriptedHttp::new(vec![(200, &sent(8)), (400, bad)]);
    let _ = ch.send(&w.ports(&part), &req_k("5", text, "partly"));
    match status("partly") {
        SendState::PartlySent(r) => {
            assert_eq!(r.chunks.len(), 1);
            assert_eq!(r.message_id.as_deref(), Some("8"));
        }
        s => panic!("{s:?}"),
    }
    assert!(
        none.requests().is_empty(),
        "reading the status sends nothing"
    );
}
