//! The matrix, every action against every kind of actor.

use chrono::TimeZone;

use super::*;
use crate::ids::{TicketId, UserId};
use crate::policy::{Role, Via};

const OWNER: UserId = UserId(1);

fn ticket() -> Ticket {
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("a time");
    Ticket {
        id: TicketId(7),
        customer: OWNER,
        ..Ticket::example(at)
    }
}

/// What each actor gets for each action: C customer side, S staff side, N not found,
/// F forbidden.
#[test]
fn the_matrix() {
    use TicketAction as A;
    let owner = Actor::user(OWNER, Role::Customer, Via::Portal);
    let other = Actor::user(UserId(2), Role::Customer, Via::Portal);
    let support = Actor::user(UserId(3), Role::Support, Via::Portal).with_two_factor();
    let support_no_2fa = Actor::user(UserId(3), Role::Support, Via::Portal);
    let admin = Actor::user(UserId(4), Role::Admin, Via::Portal).with_two_factor();
    let billing = Actor::user(UserId(5), Role::Billing, Via::Portal).with_two_factor();
    let anonymous = Actor::anonymous(Via::Portal);
    let rows: [(A, [&str; 7]); 13] = [
        //                owner other support no2fa admin billing anon
        (A::Open, ["C", "N", "S", "N", "S", "N", "F"]),
        (A::Read, ["C", "N", "S", "N", "S", "N", "F"]),
        (A::Reply, ["C", "N", "S", "N", "S", "N", "F"]),
        (A::Note, ["F", "F", "S", "F", "S", "F", "F"]),
        (A::Claim, ["F", "F", "S", "F", "S", "F", "F"]),
        (A::Assign, ["F", "F", "S", "F", "S", "F", "F"]),
        (A::Priority, ["F", "F", "S", "F", "S", "F", "F"]),
        (A::Close, ["C", "N", "S", "N", "S", "N", "F"]),
        (A::Reopen, ["C", "N", "S", "N", "S", "N", "F"]),
        (A::Rate, ["C", "N", "F", "N", "F", "N", "F"]),
        (A::Transcript, ["C", "N", "S", "N", "S", "N", "F"]),
        (A::Context, ["F", "F", "S", "F", "S", "F", "F"]),
        (A::Report, ["F", "F", "S", "F", "S", "F", "F"]),
    ];
    let actors = [
        &owner,
        &other,
        &support,
        &support_no_2fa,
        &admin,
        &billing,
        &anonymous,
    ];
    let ticket = ticket();
    for (action, expected) in rows {
        for (actor, want) in actors.iter().zip(expected) {
            let got = match action.side(actor, &ticket) {
                Ok(Side::Customer) => "C",
                Ok(Side::Staff) => "S",
                Err(Error::NotFound(_)) => "N",
                Err(Error::Forbidden(_)) => "F",
                Err(other) => panic!("{action:?}: {other}"),
            };
            assert_eq!(got, want, "{action:?} by {actor:?}");
        }
    }
}

#[test]
fn the_platform_acts_as_staff() {
    let ticket = ticket();
    for action in TicketAction::ALL {
        if action.any().is_some() {
            assert_eq!(
                action.side(&Actor::system(), &ticket).ok(),
                Some(Side::Staff)
            );
        }
    }
}

#[test]
fn only_staff_who_manage_tickets_open_them_urgent() {
    use crate::records::tickets::Priority;
    use crate::tickets::Tickets;
    let customer = Actor::user(UserId(1), Role::Customer, Via::Portal);
    let support = Actor::user(UserId(2), Role::Support, Via::Portal).with_two_factor();
    let billing = Actor::user(UserId(3), Role::Billing, Via::Portal).with_two_factor();
    let below_urgent = vec![Priority::Low, Priority::Normal, Priority::High];
    assert_eq!(Tickets::may_open_with(&customer), below_urgent);
    assert_eq!(Tickets::may_open_with(&billing), below_urgent);
    assert_eq!(
        Tickets::may_open_with(&support).last(),
        Some(&Priority::Urgent)
    );
}
