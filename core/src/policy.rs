//! Who may do what: roles, API-key scopes, the actor of every call, and the one policy table.
//!
//! Every core service method that acts takes an [`Actor`] and calls [`Actor::require`] before
//! it touches anything. The whole policy is [`POLICY`], one row per [`Permission`]; the front
//! doors never decide permissions themselves, they only build the actor.
//!
//! Roles reach, scopes narrow: a role says which permissions a person has; an API key's scopes
//! say which of those the key may use. A key never gains what its owner's role lacks.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::UserId;

/// A platform role. An account has one; a Discord member may hold several through role ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Support,
    Billing,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Customer, Role::Support, Role::Billing, Role::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Support => "support",
            Role::Billing => "billing",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                Error::invalid(
                    "role",
                    format!("{text:?} is not a role; use customer, support, billing or admin"),
                )
            })
    }

    /// Staff are support, billing or admin: everyone but customers.
    pub const fn is_staff(self) -> bool {
        !matches!(self, Role::Customer)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles (a Discord member may be support and billing at once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RoleSet(u8);

impl RoleSet {
    pub const EMPTY: RoleSet = RoleSet(0);

    pub fn of(roles: &[Role]) -> Self {
        Self(roles.iter().fold(0, |bits, role| bits | role.bit()))
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn with(self, role: Role) -> Self {
        Self(self.0 | role.bit())
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL
            .into_iter()
            .filter(move |role| self.contains(*role))
    }

    /// Whether any of the roles is a staff role ([`Role::is_staff`]).
    pub fn is_staff(self) -> bool {
        self.iter().any(Role::is_staff)
    }
}

/// An API-key scope (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    ReadUser,
    ReadServers,
    WriteServers,
    ReadBilling,
    ReadTickets,
    WriteTickets,
    AdminUsers,
    AdminBilling,
    AdminSystem,
    WriteStatus,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::ReadUser,
        Scope::ReadServers,
        Scope::WriteServers,
        Scope::ReadBilling,
        Scope::ReadTickets,
        Scope::WriteTickets,
        Scope::AdminUsers,
        Scope::AdminBilling,
        Scope::AdminSystem,
        Scope::WriteStatus,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::ReadUser => "read:user",
            Scope::ReadServers => "read:servers",
            Scope::WriteServers => "write:servers",
            Scope::ReadBilling => "read:billing",
            Scope::ReadTickets => "read:tickets",
            Scope::WriteTickets => "write:tickets",
            Scope::AdminUsers => "admin:users",
            Scope::AdminBilling => "admin:billing",
            Scope::AdminSystem => "admin:system",
            Scope::WriteStatus => "write:status",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text.trim())
            .ok_or_else(|| {
                let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                Error::invalid(
                    "scopes",
                    format!("{text:?} is not a scope; use one of {}", known.join(", ")),
                )
            })
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes an API key was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u16);

impl Scopes {
    pub fn of(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |bits, scope| bits | scope.bit()))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |scope| self.contains(*scope))
    }
}

/// The front door a request came through, recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Portal,
    Api,
    Discord,
    /// The `hostdeck` command line, run by whoever operates the machine.
    Cli,
    /// The platform itself: the scheduler, webhooks after verification, background jobs.
    System,
}

impl Via {
    pub const fn as_str(self) -> &'static str {
        match self {
            Via::Portal => "portal",
            Via::Api => "api",
            Via::Discord => "discord",
            Via::Cli => "cli",
            Via::System => "system",
        }
    }
}

/// Who is acting, through which door, with which powers. Built by a front door from a session,
/// an API key, a Discord member, or the platform itself; checked by core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The account acting, if any (an unlinked Discord member has none).
    pub user: Option<UserId>,
    pub roles: RoleSet,
    /// `Some` when acting through an API key: only these scopes may be used.
    pub scopes: Option<Scopes>,
    pub via: Via,
    /// Whether this sign-in passed two-factor authentication (for an API key or a Discord
    /// member: whether the account has it turned on). Staff permissions require it.
    pub two_factor: bool,
}

impl Actor {
    /// The platform itself (scheduler, verified webhooks). Trusted with every permission.
    pub fn system() -> Self {
        Self {
            user: None,
            roles: RoleSet::EMPTY,
            scopes: None,
            via: Via::System,
            two_factor: false,
        }
    }

    /// The operator at the command line, who has the machine and so everything.
    pub fn cli() -> Self {
        Self {
            user: None,
            roles: RoleSet::EMPTY,
            scopes: None,
            via: Via::Cli,
            two_factor: false,
        }
    }

    /// A signed-in account with its role, without two-factor authentication.
    pub fn user(user: UserId, role: Role, via: Via) -> Self {
        Self {
            user: Some(user),
            roles: RoleSet::of(&[role]),
            scopes: None,
            via,
            two_factor: false,
        }
    }

    /// The same actor, having passed two-factor authentication.
    pub fn with_two_factor(self) -> Self {
        Self {
            two_factor: true,
            ..self
        }
    }

    /// Nobody in particular: an unlinked Discord member, a visitor to a public page.
    pub fn anonymous(via: Via) -> Self {
        Self {
            user: None,
            roles: RoleSet::EMPTY,
            scopes: None,
            via,
            two_factor: false,
        }
    }

    /// Whether the actor holds a staff role ([`Role::is_staff`]).
    pub fn is_staff(&self) -> bool {
        self.roles.is_staff()
    }

    /// Whether this actor may give an API key `scope`: some permission the actor's own roles
    /// allow (without any key's narrowing) needs that scope. A key never looks more powerful
    /// than its owner.
    pub fn may_grant(&self, scope: Scope) -> bool {
        let unscoped = Actor {
            scopes: None,
            ..self.clone()
        };
        POLICY
            .iter()
            .any(|rule| rule.scope == Some(scope) && unscoped.can(rule.permission))
    }

    /// Every scope this actor may give an API key, in [`Scope::ALL`] order.
    pub fn grantable_scopes(&self) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|scope| self.may_grant(*scope))
            .collect()
    }

    pub(crate) fn is_trusted(&self) -> bool {
        matches!(self.via, Via::System | Via::Cli)
    }

    /// Whether the policy lets this actor use `permission` at all (ownership is checked
    /// separately by the service that knows whose the thing is).
    pub fn can(&self, permission: Permission) -> bool {
        self.check(permission).is_ok()
    }

    /// `Ok` if allowed, otherwise a `forbidden` error that says what is needed.
    pub fn require(&self, permission: Permission) -> Result<()> {
        self.check(permission)
    }

    fn check(&self, permission: Permission) -> Result<()> {
        if self.is_trusted() {
            return Ok(());
        }
        let rule = permission.rule();
        let roles = match rule.grant {
            Grant::Anyone => return Ok(()),
            Grant::Platform => {
                return Err(Error::Forbidden(format!(
                    "Only the platform itself may {}.",
                    rule.summary
                )));
            }
            Grant::Roles(roles) => roles,
        };
        if self.user.is_none() {
            return Err(Error::Forbidden(format!(
                "To {}, sign in first (on Discord: link your account with /link).",
                rule.summary
            )));
        }
        if !roles.iter().any(|role| self.roles.contains(*role)) {
            let names: Vec<_> = roles.iter().map(|role| role.as_str()).collect();
            return Err(Error::Forbidden(format!(
                "To {} you need the {} role.",
                rule.summary,
                names.join(" or ")
            )));
        }
        let staff_only = !roles.contains(&Role::Customer);
        if staff_only && !self.two_factor {
            return Err(Error::Forbidden(format!(
                "To {} you need two-factor authentication: turn it on from your account page, \
                 then sign in again.",
                rule.summary
            )));
        }
        if let Some(scopes) = self.scopes {
            match rule.scope {
                Some(scope) if scopes.contains(scope) => {}
                Some(scope) => {
                    return Err(Error::Forbidden(format!(
                        "This API key may not {}: it needs the {scope} scope.",
                        rule.summary
                    )));
                }
                None => {
                    return Err(Error::Forbidden(format!(
                        "API keys may not {}; sign in to do it.",
                        rule.summary
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Who a permission is granted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Everyone, signed in or not (`/ask`, `/status`, `/help`, `/link`).
    Anyone,
    /// Signed-in accounts holding one of these roles.
    Roles(&'static [Role]),
    /// Nobody but the platform itself (the scheduler, verified webhooks, the CLI).
    Platform,
}

/// One row of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub permission: Permission,
    pub grant: Grant,
    /// The API-key scope that covers it; `None` means API keys may not do it at all.
    pub scope: Option<Scope>,
    /// Completes the sentence "To ..., you need": shown in refusals.
    pub summary: &'static str,
}

/// Everything an actor can be allowed to do. `_own` permissions reach the actor's own things;
/// `_any` permissions reach everybody's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Ask,
    ViewStatus,
    ViewHelp,
    LinkDiscord,
    ReadOwnProfile,
    UpdateOwnProfile,
    ManageOwnSecurity,
    ManageApiKeys,
    ReadOwnBilling,
    TopUp,
    ReadOwnServers,
    ControlOwnServers,
    CreateServers,
    DeleteOwnServers,
    ReadOwnTickets,
    WriteOwnTickets,
    ReadAnyUser,
    ReadAnyServer,
    ReadAnyTicket,
    ReplyAsStaff,
    ManageTickets,
    ReadAnyBilling,
    AdjustCredits,
    RefundPayments,
    SuspendServers,
    ControlAnyServer,
    ManageUsers,
    ManageMaintenance,
    ManageIncidents,
    ManageSettings,
    ManageKnowledge,
    ReadAudit,
    PostLedger,
}

const EVERY_ROLE: &[Role] = &[Role::Customer, Role::Support, Role::Billing, Role::Admin];
const SUPPORT: &[Role] = &[Role::Support, Role::Admin];
const BILLING: &[Role] = &[Role::Billing, Role::Admin];
const STAFF: &[Role] = &[Role::Support, Role::Billing, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];

macro_rules! rule {
    ($permission:ident, $grant:expr, $scope:expr, $summary:literal) => {
        Rule {
            permission: Permission::$permission,
            grant: $grant,
            scope: $scope,
            summary: $summary,
        }
    };
}

/// The whole policy, one row per permission, in the order of [`Permission`].
pub const POLICY: &[Rule] = &[
    rule!(Ask, Grant::Anyone, None, "ask the assistant"),
    rule!(ViewStatus, Grant::Anyone, None, "see the service status"),
    rule!(ViewHelp, Grant::Anyone, None, "see the help"),
    rule!(LinkDiscord, Grant::Anyone, None, "link a Discord account"),
    rule!(
        ReadOwnProfile,
        Grant::Roles(EVERY_ROLE),
        Some(Scope::ReadUser),
        "see your profile"
    ),
    rule!(
        UpdateOwnProfile,
        Grant::Roles(EVERY_ROLE),
        None,
        "change your profile"
    ),
    rule!(
        ManageOwnSecurity,
        Grant::Roles(EVERY_ROLE),
        None,
        "change your password or two-factor settings"
    ),
    rule!(
        ManageApiKeys,
        Grant::Roles(EVERY_ROLE),
        None,
        "manage API keys"
    ),
    rule!(
        ReadOwnBilling,
        Grant::Roles(EVERY_ROLE),
        Some(Scope::ReadBilling),
        "see your balance and transactions"
    ),
    rule!(TopUp, Grant::Roles(EVERY_ROLE), None, "top up your credit"),
    rule!(
        ReadOwnServers,
        Grant::Roles(EVERY_ROLE),
        Some(Scope::ReadServers),
        "see your servers"
    ),
    rule!(
        ControlOwnServers,
        Grant::Roles(EVERY_ROLE),
        Some(Scope::WriteServers),
        "control your servers"
    ),
    rule!(
        CreateServers,
        Grant::Roles(EVERY_ROLE),
        Some(Scope::WriteServers),
        "create servers"
    ),
    rule!(
        DeleteOwnServers,
        Grant::Roles(EVERY_ROLE),
        Some(Scope::WriteServers),
        "delete your servers"
    ),
    rule!(
        ReadOwnTickets,
        Grant::Roles(EVERY_ROLE),
        Some(Scope::ReadTickets),
        "see your tickets"
    ),
    rule!(
        WriteOwnTickets,
        Grant::Roles(EVERY_ROLE),
        Some(Scope::WriteTickets),
        "open and answer your tickets"
    ),
    rule!(
        ReadAnyUser,
        Grant::Roles(STAFF),
        Some(Scope::AdminUsers),
        "look up customers"
    ),
    rule!(
        ReadAnyServer,
        Grant::Roles(SUPPORT),
        Some(Scope::ReadServers),
        "see any customer's servers"
    ),
    rule!(
        ReadAnyTicket,
        Grant::Roles(SUPPORT),
        Some(Scope::ReadTickets),
        "see every ticket"
    ),
    rule!(
        ReplyAsStaff,
        Grant::Roles(SUPPORT),
        Some(Scope::WriteTickets),
        "answer tickets as staff"
    ),
    rule!(
        ManageTickets,
        Grant::Roles(SUPPORT),
        Some(Scope::WriteTickets),
        "claim, assign and close any ticket"
    ),
    rule!(
        ReadAnyBilling,
        Grant::Roles(BILLING),
        Some(Scope::AdminBilling),
        "see any customer's billing"
    ),
    rule!(
        AdjustCredits,
        Grant::Roles(BILLING),
        Some(Scope::AdminBilling),
        "adjust a customer's credit"
    ),
    rule!(
        RefundPayments,
        Grant::Roles(BILLING),
        Some(Scope::AdminBilling),
        "refund payments"
    ),
    rule!(
        SuspendServers,
        Grant::Roles(BILLING),
        Some(Scope::AdminBilling),
        "suspend or unsuspend servers"
    ),
    rule!(
        ControlAnyServer,
        Grant::Roles(ADMIN),
        Some(Scope::WriteServers),
        "control any customer's servers"
    ),
    rule!(
        ManageUsers,
        Grant::Roles(ADMIN),
        Some(Scope::AdminUsers),
        "change users' roles and status"
    ),
    rule!(
        ManageMaintenance,
        Grant::Roles(ADMIN),
        Some(Scope::AdminSystem),
        "turn maintenance mode on or off"
    ),
    rule!(
        ManageIncidents,
        Grant::Roles(SUPPORT),
        Some(Scope::WriteStatus),
        "declare, update and resolve incidents and maintenance on the status page"
    ),
    rule!(
        ManageSettings,
        Grant::Roles(ADMIN),
        Some(Scope::AdminSystem),
        "change settings, plans and prices"
    ),
    rule!(
        ManageKnowledge,
        Grant::Roles(ADMIN),
        Some(Scope::AdminSystem),
        "edit and publish knowledge-base articles"
    ),
    rule!(
        ReadAudit,
        Grant::Roles(ADMIN),
        Some(Scope::AdminSystem),
        "read the audit log"
    ),
    rule!(PostLedger, Grant::Platform, None, "post raw ledger entries"),
];

impl Permission {
    pub fn all() -> impl Iterator<Item = Permission> {
        POLICY.iter().map(|rule| rule.permission)
    }

    pub fn rule(self) -> &'static Rule {
        // POLICY is in enum order; the `policy_rows_are_in_enum_order` test keeps it so.
        &POLICY[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rows_are_in_enum_order() {
        for (index, rule) in POLICY.iter().enumerate() {
            assert_eq!(
                rule.permission as usize, index,
                "{:?} is out of place",
                rule.permission
            );
        }
    }

    /// The matrix, written out independently of the table: C S B A for each permission.
    /// Changing the policy means changing this grid on purpose.
    const MATRIX: &[(Permission, [bool; 4])] = {
        use Permission::*;
        const Y: bool = true;
        const N: bool = false;
        &[
            (ReadOwnProfile, [Y, Y, Y, Y]),
            (UpdateOwnProfile, [Y, Y, Y, Y]),
            (ManageOwnSecurity, [Y, Y, Y, Y]),
            (ManageApiKeys, [Y, Y, Y, Y]),
            (ReadOwnBilling, [Y, Y, Y, Y]),
            (TopUp, [Y, Y, Y, Y]),
            (ReadOwnServers, [Y, Y, Y, Y]),
            (ControlOwnServers, [Y, Y, Y, Y]),
            (CreateServers, [Y, Y, Y, Y]),
            (DeleteOwnServers, [Y, Y, Y, Y]),
            (ReadOwnTickets, [Y, Y, Y, Y]),
            (WriteOwnTickets, [Y, Y, Y, Y]),
            (ReadAnyUser, [N, Y, Y, Y]),
            (ReadAnyServer, [N, Y, N, Y]),
            (ReadAnyTicket, [N, Y, N, Y]),
            (ReplyAsStaff, [N, Y, N, Y]),
            (ManageTickets, [N, Y, N, Y]),
            (ReadAnyBilling, [N, N, Y, Y]),
            (AdjustCredits, [N, N, Y, Y]),
            (RefundPayments, [N, N, Y, Y]),
            (SuspendServers, [N, N, Y, Y]),
            (ControlAnyServer, [N, N, N, Y]),
            (ManageUsers, [N, N, N, Y]),
            (ManageMaintenance, [N, N, N, Y]),
            (ManageIncidents, [N, Y, N, Y]),
            (ManageSettings, [N, N, N, Y]),
            (ManageKnowledge, [N, N, N, Y]),
            (ReadAudit, [N, N, N, Y]),
            (PostLedger, [N, N, N, N]),
        ]
    };
    const PUBLIC: &[Permission] = &[
        Permission::Ask,
        Permission::ViewStatus,
        Permission::ViewHelp,
        Permission::LinkDiscord,
    ];

    #[test]
    fn every_role_times_every_permission_matches_the_matrix() {
        let mut seen = 0;
        for permission in Permission::all() {
            let expected: [bool; 4] = if PUBLIC.contains(&permission) {
                [true; 4]
            } else {
                MATRIX
                    .iter()
                    .find(|(p, _)| *p == permission)
                    .map(|(_, row)| *row)
                    .unwrap_or_else(|| panic!("{permission:?} is missing from the test matrix"))
            };
            for (role, allowed) in Role::ALL.into_iter().zip(expected) {
                let actor = Actor::user(UserId(1), role, Via::Portal).with_two_factor();
                assert_eq!(actor.can(permission), allowed, "{role} x {permission:?}");
                seen += 1;
            }
        }
        assert_eq!(seen, POLICY.len() * Role::ALL.len());
    }

    #[test]
    fn admins_may_do_everything_a_role_can_do() {
        let admin = Actor::user(UserId(1), Role::Admin, Via::Api).with_two_factor();
        for rule in POLICY {
            assert_eq!(
                admin.can(rule.permission),
                rule.grant != Grant::Platform,
                "{:?}",
                rule.permission
            );
        }
    }

    #[test]
    fn without_an_account_only_public_permissions_remain() {
        for via in [Via::Discord, Via::Portal, Via::Api] {
            let nobody = Actor::anonymous(via);
            for permission in Permission::all() {
                assert_eq!(
                    nobody.can(permission),
                    PUBLIC.contains(&permission),
                    "{permission:?}"
                );
            }
        }
        // A Discord role alone, without a linked account, grants nothing beyond the public set.
        let unlinked_admin = Actor {
            user: None,
            roles: RoleSet::of(&[Role::Admin]),
            scopes: None,
            via: Via::Discord,
            two_factor: true,
        };
        assert!(!unlinked_admin.can(Permission::AdjustCredits));
    }

    #[test]
    fn scopes_narrow_and_never_widen() {
        for role in Role::ALL {
            for scope in Scope::ALL {
                let key = Actor {
                    user: Some(UserId(7)),
                    roles: RoleSet::of(&[role]),
                    scopes: Some(Scopes::of(&[scope])),
                    via: Via::Api,
                    two_factor: true,
                };
                let session = Actor::user(UserId(7), role, Via::Api).with_two_factor();
                for rule in POLICY {
                    let expected = match rule.grant {
                        Grant::Anyone => true,
                        _ => session.can(rule.permission) && rule.scope == Some(scope),
                    };
                    assert_eq!(
                        key.can(rule.permission),
                        expected,
                        "{role} {scope} {:?}",
                        rule.permission
                    );
                }
            }
        }
    }

    #[test]
    fn staff_permissions_need_two_factor_customer_ones_do_not() {
        for role in [Role::Support, Role::Billing, Role::Admin] {
            let without = Actor::user(UserId(1), role, Via::Portal);
            let with = without.clone().with_two_factor();
            for rule in POLICY {
                let Grant::Roles(roles) = rule.grant else {
                    continue;
                };
                if !roles.contains(&role) {
                    continue;
                }
                let staff_only = !roles.contains(&Role::Customer);
                assert!(with.can(rule.permission), "{role} {:?}", rule.permission);
                assert_eq!(
                    without.can(rule.permission),
                    !staff_only,
                    "{role} {:?}",
                    rule.permission
                );
            }
        }
        let message = Actor::user(UserId(1), Role::Billing, Via::Portal)
            .require(Permission::AdjustCredits)
            .expect_err("refused")
            .to_string();
        assert!(message.contains("two-factor"), "{message}");
    }

    #[test]
    fn refusals_say_what_is_needed() {
        let customer = Actor::user(UserId(1), Role::Customer, Via::Discord);
        let message = customer
            .require(Permission::AdjustCredits)
            .expect_err("refused")
            .to_string();
        assert!(message.contains("billing or admin"), "{message}");
        let key = Actor {
            scopes: Some(Scopes::of(&[Scope::ReadUser])),
            ..Actor::user(UserId(1), Role::Customer, Via::Api)
        };
        let message = key
            .require(Permission::ReadOwnServers)
            .expect_err("refused")
            .to_string();
        assert!(message.contains("read:servers"), "{message}");
    }

    #[test]
    fn the_platform_and_the_operator_are_trusted() {
        for permission in Permission::all() {
            assert!(Actor::system().can(permission));
            assert!(Actor::cli().can(permission));
        }
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).ok(), Some(role));
        }
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()).ok(), Some(scope));
        }
        assert!(Role::parse("root").is_err());
        assert!(Scope::parse("write:everything").is_err());
    }
}
