//! Homeward's integration tests: one binary, one module per journey or area. Each test
//! starts the real application on a database of its own (see `common`) and talks to it as
//! partner systems (HTTP API), people (pages, a real browser) and operators (the CLI) do.

mod common;

mod api_capacity;
mod api_patients;
mod board;
mod browser;
mod choice;
mod cli;
mod flow;
mod html_valid;
mod live;
mod model;
mod national;
mod pages;
mod pages_market;
mod scope_agreement;
mod sitrep;
mod stored_names;
mod wrong_figures;
