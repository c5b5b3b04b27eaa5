//! A message that must wait for the rate budget keeps its turn: it is given a slot of its own,
//! and another instance asking first at that moment does not take it.

use super::*;
use crate::testkit::*;

fn slow_budget() -> Channel {
    configured(
        r#"{"rateLimit": {"requestsPerMinute": 60, "burst": 1}}"#,
        &[("default", CredentialSource::Env)],
    )
}

fn deferred_ms(r: Result<SendReceipt, ChannelError>) -> u64 {
    match r {
        Err(ChannelError::Deferred(ms)) => ms,
        other => panic!("expected a deferral, got {other:?}"),
    }
}

#[test]
fn a_deferred_message_keeps_its_slot_when_another_instance_asks_first() {
    let (a, b) = (slow_budget(), slow_budget());
    let w = World::new();
    let http = ScriptedHttp::new(vec![(200, SENT), (200, SENT), (200, SENT)]);
    let ports = w.ports(&http);
    a.send(&ports, &req_k("5", "first", "k1")).unwrap();
    let wait = deferred_ms(a.send(&ports, &req_k("5", "second", "k2")));
    assert_eq!(wait, 1000);

    // When k2's slot comes, instance b asks first: it is queued behind k2, not given k2's slot.
    w.clock.0.set(w.clock.0.get() + wait);
    let b_wait = deferred_ms(b.send(&ports, &req_k("5", "third", "k3")));
    assert_eq!(b_wait, 1000);
    a.send(&ports, &req_k("5", "second", "k2")).unwrap();

    // Too early for its slot: told to wait the rest, and nothing is sent.
    w.clock.0.set(w.clock.0.get() + 400);
    assert_eq!(deferred_ms(b.send(&ports, &req_k("5", "third", "k3"))), 600);
    w.clock.0.set(w.clock.0.get() + 600);
    b.send(&ports, &req_k("5", "third", "k3")).unwrap();
    let texts: Vec<String> = http
        .requests()
        .iter()
        .map(|r| {
            let body: serde_json::Value =
                serde_json::from_slice(r.body.as_deref().unwrap_or_default()).unwrap();
            body["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(texts, ["first", "second", "third"]);
}

#[test]
fn a_slot_not_claimed_in_time_is_given_up_and_the_message_queues_again() {
    let (a, b) = (slow_budget(), slow_budget());
    let w = World::new();
    let http = ScriptedHttp::new(vec![(200, SENT), (200, SENT), (200, SENT)]);
    let ports = w.ports(&http);
    a.send(&ports, &req_k("5", "first", "k1")).unwrap();
    assert_eq!(deferred_ms(a.send(&ports, &req_k("5", "late", "k2"))), 1000);
    // Instance b queues behind it.
    assert_eq!(deferred_ms(b.send(&ports, &req_k("5", "next", "k3"))), 2000);
    // k2 comes back 5 s after its slot: that slot went by; b's slot (at 2 s) went by too, and the
    // budget is free again, so k2 goes now, counted once more.
    w.clock.0.set(w.clock.0.get() + 6000);
    a.send(&ports, &req_k("5", "late", "k2")).unwrap();
    assert_eq!(http.requests().len(), 2);
}
