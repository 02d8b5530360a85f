//! Set-up shared by the benchmarks (`mod common;` in each that needs it).

/// SQL adding `hubs` hubs `{hub}001`, `{hub}002`, ..., each with one acute trust
/// `{trust}001`, ... of one site (`{trust}001S`) and 8 wards (`{trust}001-W1` to `-W8`).
pub fn hubs_sql(hub: &str, trust: &str, hubs: u64) -> String {
    format!(
        "INSERT INTO organisations (code, name, sector, kind, hub_code)
         SELECT '{hub}' || lpad(h::text, 3, '0'), 'Bench hub ' || h, 'nhs_community', 'hub', '{hub}' || lpad(h::text, 3, '0')
         FROM generate_series(1, {hubs}) h;
         INSERT INTO organisations (code, name, sector, kind, hub_code)
         SELECT '{trust}' || lpad(h::text, 3, '0'), 'Bench trust ' || h, 'nhs_acute', 'acute_trust', '{hub}' || lpad(h::text, 3, '0')
         FROM generate_series(1, {hubs}) h;
         INSERT INTO sites (code, org_code, name)
         SELECT '{trust}' || lpad(h::text, 3, '0') || 'S', '{trust}' || lpad(h::text, 3, '0'), 'Bench site ' || h
         FROM generate_series(1, {hubs}) h;
         INSERT INTO wards (code, site_code, org_code, name)
         SELECT '{trust}' || lpad(h::text, 3, '0') || '-W' || w, '{trust}' || lpad(h::text, 3, '0') || 'S', '{trust}' || lpad(h::text, 3, '0'), 'Ward ' || w
         FROM generate_series(1, {hubs}) h, generate_series(1, 8) w;"
    )
}

/// Signs `username` in (the demo password, no second factor) at the server `base`: a session
/// cookie for pages and a bearer token for the API.
pub async fn sign_in(base: &str, username: &str) -> anyhow::Result<(String, String)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let form = [
        ("username", username),
        ("password", homeward::demo::DEMO_PASSWORD),
    ];
    let res = http
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await?;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("homeward_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("{username}: no session cookie ({})", res.status()))?;
    let v: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({"username": username, "password": homeward::demo::DEMO_PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = v["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{username}: no token: {v}"))?
        .to_string();
    Ok((cookie, token))
}

/// Counts the cases again as the triggers (off for a bulk load) would have kept the
/// counters: by trust, ward, status, pathway, reason, coordinator and hour (`case_counts`),
/// and by hub, status and hour (`case_counts_hub`).
pub const RECOUNT_SQL: &str = "DELETE FROM case_counts;
     INSERT INTO case_counts (trust_code, ward_code, status, pathway, delay_reason, ready_hour,
                              n, coordinator_id, hub_code)
     SELECT trust_code, ward_code, status, COALESCE(pathway, -1), COALESCE(delay_reason, ''),
            CASE WHEN ready_hour(discharge_ready_at) < (SELECT before FROM case_counts_folded)
                 THEN '-infinity'::timestamptz ELSE ready_hour(discharge_ready_at) END,
            count(*), COALESCE(coordinator_id, -1), hub_code
     FROM patients GROUP BY 1, 2, 3, 4, 5, 6, 8, 9;
     DELETE FROM case_counts_hub;
     INSERT INTO case_counts_hub (hub_code, status, ready_hour, n)
     SELECT hub_code, status, ready_hour, sum(n) FROM case_counts GROUP BY 1, 2, 3;";
