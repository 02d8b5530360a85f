//! The ward's and the hub's pages, one module per page family, each page's typed template
//! struct beside its handler (templates in `templates/patients/`):
//!
//! - [`ward_list`](mod@ward_list): the ward user's home, its trust's wards and one ward's cases;
//! - [`worklist`](mod@worklist): the hub's worklist of open cases across trusts;
//! - [`flag`](mod@flag): the form that opens a case;
//! - [`case`]: the case page, and [`case_actions`]: the posts from its action forms.
//!
//! Handlers parse forms, call [`super::commands`] (the same functions the API calls), then
//! redirect with a flash message (POST-redirect-GET) or re-render with NHS-style errors.
//! No rule about cases lives in a page: a rule a page needs is a command's or a query's.

pub mod case;
pub mod case_actions;
pub mod casework;
pub mod flag;
pub mod ward_list;
pub mod worklist;

pub use case::show;
pub use case_actions::{
    cancel, criteria, delay_reason, details, discharge, pathway, plan_discharge, take_ownership,
    triage,
};
pub use casework::{add_note, add_task, complete_task, my_tasks};
pub use flag::{flag, flag_form};
pub use ward_list::ward_list;
pub use worklist::worklist;
