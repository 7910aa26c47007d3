//! The holder door's clock rule (STYLE "Doors"), proved from the holder's own records under
//! concurrent load: the time of every holder decision is read under the holder's lock, so the
//! times in the store follow the order the lock gave. Runs on RocksDB and, in `make test-pg`, on
//! PostgreSQL (`support::store_at`).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use licence_vault::codes::{HolderCode, LicenceId};
use licence_vault::reuse::delegation::{Acting, NewDelegation, Scope};
use licence_vault::reuse::presentation::PresentationState;
use licence_vault::reuse::{NewConsent, Outcome, PullRequest};
use licence_vault::vault::{AccessKind, AccessRecord, At, Vault, VaultError};
use licence_vault::verdict::Reason;

use crate::support::*;

/// 食品经营许可证新办: needs the business licence only.
const NEW_FOOD: &str = "350100-SJ-004";
/// Concurrent workers beside the one decision they race.
const WORKERS: usize = 4;
const ROUNDS: usize = 12;

fn company() -> HolderCode {
    format!("001:{COMPANY}").parse().unwrap()
}

fn new_consent() -> NewConsent {
    NewConsent {
        requester: REQUESTER.into(),
        matter: NEW_FOOD.into(),
        purpose: "食品经营许可证新办申请".into(),
        types: vec![BUSINESS_LICENCE.parse().unwrap()],
        licences: Vec::new(),
        expires_at: Utc::now() + Duration::days(30),
        max_uses: None,
    }
}

fn pull(vault: &Vault) -> Result<(), VaultError> {
    let req = PullRequest {
        holder: company(),
        matter: NEW_FOOD.into(),
        purpose: "受理食品经营许可证新办申请".into(),
        types: None,
    };
    vault.reuse(REQUESTER, req, At::Now).map(|_| ())
}

/// Every access record of the company, oldest first.
fn access_log(vault: &Vault) -> Vec<AccessRecord> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = vault
            .access_log(&company(), 200, cursor.as_deref())
            .unwrap();
        out.extend(page.records);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.sort_by_key(|r| r.at);
    out
}

/// A vault holding the company's 营业执照 (naming its legal representative).
async fn world() -> TestApp {
    let app = TestApp::new();
    app.deposit(&sign(&business_licence("D0001", COMPANY), "scjgj"))
        .await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pull_is_dated_after_the_withdrawal_it_was_ordered_before() {
    let app = world().await;
    let vault = &app.vault;
    for _ in 0..3 {
        let consent = vault
            .create_consent(&Acting::own(company()), new_consent(), At::Now)
            .unwrap();
        std::thread::scope(|s| {
            for _ in 0..WORKERS {
                s.spawn(|| (0..ROUNDS).for_each(|_| pull(vault).unwrap()));
            }
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                vault
                    .withdraw_consent(&Acting::own(company()), &consent.id, At::Now)
                    .unwrap()
                    .unwrap();
            });
        });
        let withdrawn_at = vault
            .consents(&company())
            .unwrap()
            .into_iter()
            .find(|c| c.id == consent.id)
            .and_then(|c| c.withdrawn_at)
            .unwrap();
        let (mut before, mut after) = (0, 0);
        for r in access_log(vault) {
            let under_it = r
                .outcomes
                .iter()
                .any(|o| o.consent.as_deref() == Some(&consent.id));
            if under_it {
                assert!(
                    r.at <= withdrawn_at,
                    "{} provided under {} at {}, after its withdrawal at {withdrawn_at}",
                    r.id,
                    consent.id,
                    r.at
                );
                before += 1;
            } else if r.at > withdrawn_at {
                after += 1;
            }
        }
        assert!(
            before + after > 0,
            "the pulls raced the withdrawal: {before} before, {after} after"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_act_of_a_delegate_is_dated_after_its_revocation() {
    let app = world().await;
    let vault = &app.vault;
    let staff: HolderCode = format!("111:{}", citizen(3)).parse().unwrap();
    let staff_acts = || -> Vec<DateTime<Utc>> {
        vault
            .consents(&company())
            .unwrap()
            .into_iter()
            .filter(|c| c.history[0].acted_by.as_deref() == Some(&staff.key()))
            .map(|c| c.created_at)
            .collect()
    };
    for _ in 0..3 {
        let acts_before = staff_acts().len();
        let d = vault
            .create_delegation(
                &Acting::own(company()),
                NewDelegation {
                    delegate: staff.clone(),
                    delegate_name: None,
                    scope: Scope::ALL,
                    expires_at: Utc::now() + Duration::days(30),
                },
                At::Now,
            )
            .unwrap();
        // Authorised once, as a request is before its decision: the decisions race the revocation.
        let acting = vault.acting(&staff, &company(), Utc::now()).unwrap();
        let refused = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..WORKERS {
                s.spawn(|| {
                    for _ in 0..ROUNDS {
                        match vault.create_consent(&acting, new_consent(), At::Now) {
                            Ok(_) => {}
                            Err(VaultError::Rejected(r)) => {
                                assert_eq!(r.reason, Reason::Forbidden);
                                assert_eq!(r.field, "Acting-For");
                                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                });
            }
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                vault
                    .revoke_delegation(&Acting::own(company()), &d.id, At::Now)
                    .unwrap();
            });
        });
        let revoked_at = vault
            .delegations_given(&company(), None, usize::MAX)
            .unwrap()
            .into_iter()
            .find(|g| g.id == d.id)
            .and_then(|g| g.revoked_at)
            .unwrap();
        let acts = staff_acts();
        for at in &acts {
            assert!(
                *at <= revoked_at,
                "a delegate's consent at {at}, after the revocation at {revoked_at}"
            );
        }
        let refused = refused.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(acts.len() - acts_before + refused, WORKERS * ROUNDS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_redemption_is_dated_after_a_cancellation() {
    let app = world().await;
    let vault = &app.vault;
    let id: LicenceId = vault.holder_licences(&company(), Utc::now()).unwrap()[0]
        .id
        .clone();
    let (mut redeemed, mut cancelled) = (0, 0);
    for round in 0..ROUNDS {
        let new = vault
            .create_presentation(&Acting::own(company()), &id, None, None, At::Now)
            .unwrap();
        let pid = new.presentation.id.clone();
        let wins = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..WORKERS {
                s.spawn(
                    || match vault.redeem_presentation(REQUESTER, &new.code, At::Now) {
                        Ok(_) => _ = wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        Err(VaultError::Rejected(r)) => assert!(
                            matches!(
                                r.reason,
                                Reason::PresentationUsed | Reason::PresentationCancelled
                            ),
                            "{r:?}"
                        ),
                        Err(e) => panic!("{e}"),
                    },
                );
            }
            s.spawn(|| {
                // Half the rounds give the cancellation a head start, half the redemptions.
                if round % 2 == 1 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                match vault.cancel_presentation(&Acting::own(company()), &pid, At::Now) {
                    Ok(_) => _ = wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    Err(VaultError::Rejected(r)) => assert_eq!(r.reason, Reason::PresentationUsed),
                    Err(e) => panic!("{e}"),
                }
            });
        });
        assert_eq!(wins.into_inner(), 1, "one of the racers wins, once");
        let p = vault
            .presentations(&company())
            .unwrap()
            .into_iter()
            .find(|p| p.id == pid)
            .unwrap();
        let shown: Vec<AccessRecord> = access_log(vault)
            .into_iter()
            .filter(|r| r.kind == AccessKind::InPerson && r.presentation.as_deref() == Some(&pid))
            .collect();
        match p.state {
            PresentationState::Redeemed => {
                redeemed += 1;
                assert_eq!(p.cancelled_at, None);
                assert_eq!(shown.len(), 1);
                assert_eq!(Some(shown[0].at), p.redeemed_at);
            }
            PresentationState::Cancelled => {
                cancelled += 1;
                assert!(
                    shown.is_empty(),
                    "redeemed after its cancellation at {:?}",
                    p.cancelled_at
                );
            }
            other => panic!("{pid} is {other:?}"),
        }
    }
    assert_eq!(redeemed + cancelled, ROUNDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_dated_behind_a_read_mark_once_it_is_set() {
    let app = world().await;
    let vault = &app.vault;
    vault
        .create_consent(&Acting::own(company()), new_consent(), At::Now)
        .unwrap();
    // Each mark with the access records at or before it as read right after it was set.
    let marks = std::sync::Mutex::new(Vec::<(DateTime<Utc>, BTreeSet<String>)>::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| (0..ROUNDS).for_each(|_| pull(vault).unwrap()));
        }
        s.spawn(|| {
            for _ in 0..ROUNDS {
                let mark = vault
                    .mark_notifications_read(
                        &Acting::own(company()),
                        DateTime::<Utc>::MAX_UTC,
                        At::Now,
                    )
                    .unwrap();
                let seen = access_log(vault)
                    .into_iter()
                    .filter(|r| r.at <= mark)
                    .map(|r| r.id)
                    .collect();
                marks.lock().unwrap().push((mark, seen));
            }
        });
    });
    let all = access_log(vault);
    assert_eq!(all.len(), WORKERS * ROUNDS);
    for (mark, seen) in marks.into_inner().unwrap() {
        let behind: BTreeSet<String> = all
            .iter()
            .filter(|r| r.at <= mark)
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(
            behind, seen,
            "records dated behind the mark {mark} after it was set"
        );
    }
    assert!(all
        .iter()
        .all(|r| r.outcomes[0].outcome == Outcome::Provided));
}
