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
