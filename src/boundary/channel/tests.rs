use super::*;
use crate::testkit::*;

#[test]
fn configure_reports_sources_and_missing_keys() {
    let mut ch = Channel::default();
    let r = ch
        .configure(
            &with_secret(r#"{"accounts":{"a":{"appKey":true},"b":{}},"defaultAccount":"a"}"#),
            &[CredentialStatus {
                account: "a".into(),
                source: CredentialSource::Config,
                key_id: None,
            }],
        )
        .unwrap();
    assert_eq!(r.default_account, "a");
    assert_eq!(r.accounts[0].credential_source, CredentialSource::Config);
    assert!(r.accounts[0].configured);
    assert!(!r.accounts[1].configured);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.path == "channels.kakao.accounts.b" && w.message.contains("no app key"))
    );
}
