//! Homeward's integration tests: one binary, one module per journey or area. Each test
//! starts the real application on a database of its own (see `common`) and talks to it as
//! partner systems (HTTP API), people (pages, a real browser) and operators (the CLI) do.

mod common;

mod api_capacity;
mod api_patients;
mod audit_roles;
mod bad_input;
mod balancer;
mod board;
mod browser;
mod casework;
mod choice;
mod cli;
mod fhir;
mod flow;
mod hl7;
mod html_valid;
mod idempotency;
mod lists;
mod live;
mod model;
mod national;
mod paged_pages;
mod pages;
mod pages_market;
mod partner_lists;
mod pooler;
mod replica;
mod scope_agreement;
mod server;
mod sessions;
mod sign_in;
mod sitrep;
mod sso;
mod stored_names;
mod tenancy;
mod two_factor;
mod wrong_figures;
