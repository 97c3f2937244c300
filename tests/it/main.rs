//! hostdeck's end-to-end tests: one binary, a module per area. Each story runs the real code on
//! a fresh database; stories marked with `on_both_engines!` run on SQLite and PostgreSQL.

mod api_accounts;
mod api_attacks;
mod billing_rules;
mod billing_servers;
mod billing_tick;
mod bot_basics;
mod bot_credit_rules;
mod bot_credits;
mod bot_permissions;
mod bot_servers;
mod bot_store;
mod first_use;
mod idempotency_keys;
mod ledger_attached;
mod ledger_concurrency;
mod ledger_model;
mod limits;
mod maintenance_bypass;
mod paypal_browser;
mod paypal_defence;
mod paypal_group_commit;
mod paypal_webhooks;
mod portal_browser;
mod provider_input;
mod providers;
mod servers;
mod servers_api;
mod servers_credit;
mod servers_limits;
mod servers_portal;
mod servers_resize;
mod statements_export;
mod store_story;
mod web_basics;
mod web_hygiene;
