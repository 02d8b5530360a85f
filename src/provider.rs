//! The provider's home page. Referrals and offers arrive with the capacity market; until
//! then a provider sees its organisation and no patients at all (need to know).

use crate::accounts::PageCaller;
use crate::domain::Role;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::response::IntoResponse;
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "provider/home.html")]
struct ProviderHome {
    layout: Layout,
}

pub async fn home(session: Session, PageCaller(caller): PageCaller) -> PageResult {
    caller.require(&[Role::Provider])?;
    Ok(ProviderHome {
        layout: Layout::new(&session, &caller, "provider").await,
    }
    .into_response())
}
