//! The whole journey in headless Chromium (Debian's `chromium` and `chromium-driver`),
//! through the pages as people use them: every page visited is checked with axe-core for
//! WCAG 2.0/2.1/2.2 A and AA violations and photographed at desktop and phone width into
//! `test-artifacts/screenshots/` (ignored by git). `.ci/test` installs Chromium when missing.

use crate::common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use homeward::domain::time::london_date;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");

/// Chromium and its driver, from Debian's `chromium` and `chromium-driver`.
fn browser_present(test: &str) -> bool {
    let missing: Vec<String> = ["chromedriver", chromium().as_str()]
        .into_iter()
        .filter_map(missing_program)
        .collect();
    tools_present(test, &missing)
}

struct Driver {
    _child: tokio::process::Child,
    url: String,
}

/// The browser: Debian's Chromium, or `CHROME_BIN`.
fn chromium() -> String {
    std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

async fn chromedriver() -> Driver {
    let port = free_port();
    let mut cmd = tokio::process::Command::new("chromedriver");
    cmd.arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    die_with_parent(&mut cmd);
    let child = cmd
        .spawn()
        .expect("chromedriver is installed (bash .ci/test installs chromium-driver)");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{url}/status")).await.is_ok() {
            return Driver { _child: child, url };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

/// A person at a browser: one Chromium session, signed in as `user`.
struct Person {
    c: Client,
    base: String,
    name: &'static str,
}

impl Person {
    async fn new(driver: &Driver, base: &str, name: &'static str) -> Person {
        let mut p = Person::anonymous(driver, base).await;
        p.name = name;
        p.go("/login").await;
        p.fill("#username", name).await;
        p.fill("#password", PASSWORD).await;
        p.click("form[action='/login'] button").await;
        p
    }

    /// Someone on a phone (Chromium's phone emulation: a touch screen `width` CSS pixels
    /// wide at three device pixels to the CSS pixel, a phone's user agent), signed in as
    /// `name`.
    async fn on_phone(driver: &Driver, base: &str, name: &'static str, width: u32) -> Person {
        let mut p = Person::browser(driver, base, Some(width)).await;
        p.name = name;
        p.go("/login").await;
        p.fill("#username", name).await;
        p.fill("#password", PASSWORD).await;
        p.click("form[action='/login'] button").await;
        p
    }

    /// A browser nobody has signed in to yet.
    async fn anonymous(driver: &Driver, base: &str) -> Person {
        Person::browser(driver, base, None).await
    }

    async fn browser(driver: &Driver, base: &str, phone: Option<u32>) -> Person {
        let mut options = json!({
            "binary": chromium(),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-dev-shm-usage", "--disable-component-update", "--no-first-run", "--window-size=1280,900"]
        });
        if let Some(width) = phone {
            options["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": 844, "pixelRatio": 3.0, "touch": true, "mobile": true},
                "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"
            });
        }
        let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": options
        }))
        .unwrap();
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        Person {
            c,
            base: base.to_string(),
            name: "anonymous",
        }
    }

    async fn go(&self, path: &str) {
        self.c
            .goto(&format!("{}{}", self.base, path))
            .await
            .unwrap();
    }

    async fn fill(&self, css: &str, value: &str) {
        let e = self
            .c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("{css}"));
        e.clear().await.ok();
        e.send_keys(value).await.unwrap();
    }

    /// Sets a date or time input by script (typing into them depends on the browser locale).
    async fn set(&self, css: &str, value: &str) {
        self.c
            .execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![json!(css), json!(value)],
            )
            .await
            .unwrap();
    }

    async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("{css}"))
            .click()
            .await
            .unwrap();
    }

    /// Sends `keys` to the focused element.
    async fn press(&self, keys: &str) {
        self.c
            .active_element()
            .await
            .unwrap()
            .send_keys(keys)
            .await
            .unwrap();
    }

    /// The focused element's `attr`, if it has one.
    async fn focused_attr(&self, attr: &str) -> Option<String> {
        self.c
            .active_element()
            .await
            .unwrap()
            .attr(attr)
            .await
            .unwrap()
    }

    async fn text(&self, css: &str) -> String {
        match self.c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_string()
    }

    /// Runs axe-core on the page and fails on any WCAG A/AA violation; fails if the page
    /// scrolls sideways on a phone (320 or 390 pixels wide); then takes the page's
    /// screenshots at desktop and phone width.
    async fn check(&self, label: &str) {
        self.c
            .execute(&format!("{AXE}; return true;"), vec![])
            .await
            .unwrap();
        let violations = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a','wcag2aa','wcag21a','wcag21aa','wcag22aa']}})
                   .then(r => done(r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            violations,
            json!([]),
            "axe violations on {label} ({})",
            self.name
        );
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let mut sideways = vec![];
        for (w, tag) in [(1280, "desktop"), (390, "phone"), (320, "small-phone")] {
            self.c.set_window_size(w, 900).await.unwrap();
            // let the page lay itself out again (the header's menu reacts to the width)
            self.c
                .execute_async(
                    "const done = arguments[0]; \
                     requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                    vec![],
                )
                .await
                .unwrap();
            let widths = self
                .c
                .execute(
                    "return [document.documentElement.scrollWidth, window.innerWidth];",
                    vec![],
                )
                .await
                .unwrap();
            let (scroll, inner) = (
                widths[0].as_i64().unwrap_or(0),
                widths[1].as_i64().unwrap_or(0),
            );
            if w < 1000 && scroll > inner {
                let out = self
                    .c
                    .execute(
                        "const out = []; document.querySelectorAll('body *').forEach(e => { \
                         const r = e.getBoundingClientRect(); \
                         if (r.right > window.innerWidth + 1 && r.width > 0) \
                         out.push(e.tagName + '.' + e.className + ' ' + Math.round(r.right)); }); \
                         return out.slice(0, 6);",
                        vec![],
                    )
                    .await
                    .unwrap();
                sideways.push(format!(
                    "{tag}: {scroll}px of content in a {inner}px window: {out}"
                ));
            }
            if tag != "small-phone" {
                let png = self.c.screenshot().await.unwrap();
                std::fs::write(dir.join(format!("{}-{label}-{tag}.png", self.name)), png).unwrap();
            }
        }
        self.c.set_window_size(1280, 900).await.unwrap();
        assert!(
            sideways.is_empty(),
            "{label} ({}) scrolls sideways: {sideways:?}",
            self.name
        );
    }

    /// Waits (up to five seconds, for the page a click led to) until `css` shows `needle`.
    async fn expect(&self, css: &str, needle: &str) {
        if !self
            .wait_for_text(css, needle, Duration::from_secs(5))
            .await
        {
            panic!(
                "{} expected {needle:?} in {css}; the page says: {}",
                self.name,
                self.text("main").await
            );
        }
    }

    async fn wait_for_text(&self, css: &str, needle: &str, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.text(css).await.contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// Sign in with the keyboard alone; the focused control is visibly marked.
#[tokio::test]
async fn the_keyboard_alone_is_enough_and_focus_is_visible() {
    const TAB: &str = "\u{E004}";
    const ENTER: &str = "\u{E007}";
    if !browser_present("the_keyboard_alone_is_enough_and_focus_is_visible") {
        return;
    }
    let app = TestApp::spawn().await;
    let driver = chromedriver().await;
    let p = Person::anonymous(&driver, &app.base).await;
    p.go("/login").await;
    // the skip link comes first, then the form
    p.press(TAB).await;
    assert_eq!(
        p.focused_attr("class").await.as_deref(),
        Some("nhsuk-skip-link")
    );
    let mut presses = 0;
    while p.focused_attr("id").await.as_deref() != Some("username") {
        p.press(TAB).await;
        presses += 1;
        assert!(presses < 10, "the username field is reachable with Tab");
    }
    // the NHS focus style: a yellow background or outline, never nothing
    let style = p
        .c
        .execute("const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.boxShadow, s.backgroundColor].join(' | ');", vec![])
        .await
        .unwrap();
    let style = style.as_str().unwrap_or_default().to_string();
    assert!(
        style.contains("rgb(255, 235, 59)") || !style.starts_with("none | none"),
        "focus style: {style}"
    );
    p.press("hub").await;
    p.press(TAB).await;
    p.press(PASSWORD).await;
    p.press(ENTER).await;
    p.expect("h1", "Worklist").await;
    // onwards by keyboard: Tab to a link and follow it with Enter
    let mut presses = 0;
    while p.focused_attr("href").await.as_deref() != Some("/board") {
        p.press(TAB).await;
        presses += 1;
        assert!(presses < 30, "the board link is reachable with Tab");
    }
    p.press(ENTER).await;
    p.expect("h1", "Board round").await;
    // end the browser session, or chromedriver's exit leaves Chromium running
    p.c.close().await.ok();
}

#[tokio::test]
async fn the_whole_journey_in_a_browser_for_every_role() {
    if !browser_present("the_whole_journey_in_a_browser_for_every_role") {
        return;
    }
    // the real clock: the browser's cookies and the page's script live in real time
    let app = TestApp::spawn_at(chrono::Utc::now()).await;
    let now = app.clock.now();
    let driver = chromedriver().await;
    // providers have posted a pathway 2 bed each
    for p in ["provider", "provider2"] {
        let mut bed = offer(2);
        bed["service_type"] = json!("step_down_bed");
        bed["available_from"] = json!(now.to_rfc3339());
        bed["available_until"] = json!((now + chrono::Duration::days(7)).to_rfc3339());
        app.post_offer(p, bed).await;
    }

    // the ward: a bad flag shows the error summary, which takes focus, and a message by each field
    let ward = Person::new(&driver, &app.base, "ward").await;
    ward.expect("h1", "My patients").await;
    ward.check("ward-list").await;
    ward.go("/patients/new").await;
    ward.check("flag-form").await;
    ward.fill("#nhs_number", "943 476 5918").await;
    ward.click("form[action='/patients'] button[type=submit]")
        .await;
    ward.expect(".nhsuk-error-summary", "Enter a valid NHS number")
        .await;
    ward.expect("#nhs_number-error", "Enter a valid NHS number")
        .await;
    ward.expect("#given_name-error", "first name").await;
    let focused = ward
        .c
        .execute("return document.activeElement.className", vec![])
        .await
        .unwrap();
    assert!(
        focused
            .as_str()
            .unwrap_or_default()
            .contains("nhsuk-error-summary"),
        "focus: {focused}"
    );
    ward.check("flag-form-errors").await;
    // then a good one
    let yesterday = homeward::domain::time::london_date(now) - chrono::Duration::days(1);
    ward.fill("#nhs_number", "943 476 5919").await;
    ward.fill("#given_name", "Ada").await;
    ward.fill("#family_name", "Lovelace").await;
    ward.set("#date_of_birth", "1941-03-02").await;
    ward.click("#sex").await;
    ward.fill("#postcode", "LS9 7TF").await;
    ward.c
        .find(Locator::Css("#ward_code"))
        .await
        .unwrap()
        .select_by_value("RHW-AMU")
        .await
        .unwrap();
    ward.set("#admitted_at", &yesterday.to_string()).await;
    ward.set("#admitted_time", "09:30").await;
    ward.set("#discharge_ready_at", &yesterday.to_string())
        .await;
    ward.set("#discharge_ready_time", "18:00").await;
    ward.fill(
        "#needs_summary",
        "Needs a short-term bed with daily physiotherapy",
    )
    .await;
    ward.click("form[action='/patients'] button[type=submit]")
        .await;
    ward.expect("h1", "LOVELACE, Ada").await;
    let case_path = ward.path().await;
    ward.check("case-ward").await;

    // the hub: pathway 2, then find care and refer to both providers
    let hub = Person::new(&driver, &app.base, "hub").await;
    hub.expect("h1", "Worklist").await;
    hub.check("worklist").await;
    hub.go(&case_path).await;
    // one triage form: the hub takes the case, chooses pathway 2 and a reason of its own
    hub.c
        .find(Locator::Css("#coordinator"))
        .await
        .unwrap()
        .select_by_index(1)
        .await
        .unwrap();
    hub.click("#pathway-2").await;
    hub.c
        .find(Locator::Css("#code"))
        .await
        .unwrap()
        .select_by_value("p2_bed")
        .await
        .unwrap();
    hub.click("form[action$='/triage'] button").await;
    hub.expect(".hw-flash", "Triage saved").await;
    hub.expect("main", "Pathway 2").await;
    // a phone call in the contact log and a task due today, shown in the header
    hub.click("#kind-call").await;
    hub.fill("#text", "Rang the daughter: happy with a rehab bed")
        .await;
    hub.click("form.hw-note-form button").await;
    hub.expect(".hw-notes", "Rang the daughter").await;
    hub.expect(".hw-notes", "Phone call").await;
    hub.click("#add-task summary").await;
    hub.fill("#title", "Chase both providers by noon").await;
    let today = london_date(app.clock.now()).format("%Y-%m-%d").to_string();
    hub.set("#due_at", &today).await;
    hub.set("#due_time", "23:59").await;
    hub.click("#add-task form button").await;
    hub.expect(".hw-tasks", "Chase both providers by noon")
        .await;
    hub.expect(".hw-tasks-due", "1").await;
    hub.check("case-hub").await;
    hub.click("a[href$='/find-care']").await;
    hub.expect("h1", "Find care").await;
    hub.check("find-care").await;
    for cb in hub
        .c
        .find_all(Locator::Css("input[name=offer_id]"))
        .await
        .unwrap()
    {
        cb.click().await.unwrap();
    }
    hub.click("form[action$='/referrals'] button").await;
    hub.expect(".hw-flash", "Referred to").await;

    // a few minutes later, the providers: one declines with a coded reason, the other accepts
    app.clock
        .set(app.clock.now() + chrono::Duration::minutes(5));
    let provider2 = Person::new(&driver, &app.base, "provider2").await;
    provider2.expect("h1", "Referrals").await;
    assert!(
        !provider2.text("main").await.contains("LOVELACE"),
        "no identifiers before acceptance"
    );
    provider2.check("referrals-pending").await;
    provider2.click(".hw-referral details summary").await;
    provider2
        .c
        .find(Locator::Css(".hw-referral select[name=reason]"))
        .await
        .unwrap()
        .select_by_value("no_capacity")
        .await
        .unwrap();
    provider2
        .click(".hw-referral form[action$='/decline'] button")
        .await;
    provider2.expect(".hw-decided", "declined").await;
    assert!(!provider2.text("main").await.contains("LOVELACE"));
    provider2.check("referrals-declined").await;
    // a provider typing a patient's address is refused
    provider2.go(&case_path).await;
    provider2.expect("h1", "You do not have access").await;
    let provider = Person::new(&driver, &app.base, "provider").await;
    provider.expect("h1", "Referrals").await;
    assert!(
        !provider.text("main").await.contains("LOVELACE"),
        "no identifiers before acceptance"
    );
    // the hub watches its worklist while the provider accepts: the row is marked, live
    hub.go("/hub").await;
    hub.expect("h1", "Worklist").await;
    provider.click("form[action$='/accept'] button").await;
    provider.expect(".hw-accepted", "LOVELACE, Ada").await;
    provider.check("referrals-answered").await;
    hub.expect(".hw-worklist tr.hw-news", "Accepted").await;
    hub.check("worklist-news").await;
    provider.go("/provider/offers").await;
    provider.check("offers").await;
    hub.go(&case_path).await;
    hub.expect(".hw-news-banner", "accepted the referral").await;
    hub.expect(".hw-news-banner", "declined the referral").await;
    hub.expect(".hw-referrals", "accepted").await;
    hub.expect(".hw-referrals", "declined").await;
    // read once, it is no longer news; the task is done with one click from the tasks page
    hub.go("/hub").await;
    hub.expect("h1", "Worklist").await;
    let marked = hub
        .c
        .execute(
            "return document.querySelectorAll('tr.hw-news').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(marked, json!(0));
    hub.go("/tasks").await;
    hub.expect("main", "Chase both providers by noon").await;
    hub.check("tasks").await;
    hub.click("form[action$='/complete'] button").await;
    hub.expect(".hw-flash", "Done: Chase both providers").await;

    // the hub records the choice and plans the discharge
    hub.go(&format!("{case_path}/choice")).await;
    hub.check("choice").await;
    hub.click("#outcome").await;
    hub.click("form[action$='/choice'] input[value=outcome] ~ button")
        .await;
    hub.expect(".hw-choice", "Accepted an available option")
        .await;
    hub.go(&case_path).await;
    hub.click("form[action$='/plan-discharge'] button").await;
    hub.expect("main .nhsuk-tag", "Ready to go").await;

    // the ward records the discharge; the sitrep counts it
    ward.go(&case_path).await;
    ward.c
        .find(Locator::Css("#destination"))
        .await
        .unwrap()
        .select_by_value("p2_community_rehab")
        .await
        .unwrap();
    ward.click("form[action$='/discharge'] button").await;
    // closing a case asks first, saying where the patient goes and on which pathway
    ward.expect("main h1", "Record the discharge of").await;
    ward.expect(".hw-discharge-summary", "Pathway 2").await;
    ward.check("discharge-confirm").await;
    ward.click("form[action$='/discharge'] button").await;
    ward.expect("main .nhsuk-tag", "Discharged").await;
    let rep = app
        .api("hub")
        .await
        .get_json("/api/v1/reports/sitrep")
        .await;
    assert_eq!(rep["total"]["discharged"], 1);
    assert_eq!(rep["total"]["discharged_by_pathway"]["2"], 1);
    hub.go("/reports/sitrep").await;
    hub.expect(".hw-sitrep", "Total").await;
    hub.check("sitrep").await;
    hub.go("/reports/national").await;
    hub.expect(
        ".hw-national-table4",
        "Pathway 2: community rehabilitation setting",
    )
    .await;
    hub.check("national-return").await;
    hub.go("/reports/flow").await;
    hub.expect("#chart-places-title", "Places available").await;
    hub.check("flow").await;
    hub.go("/board").await;
    hub.check("board").await;

    // live: the hub's worklist shows a new patient without reloading
    hub.go("/hub").await;
    let mut other = patient_at(NHS[1], now);
    other["family_name"] = json!("Liveupdate");
    other["discharge_ready_at"] = json!(now.to_rfc3339());
    app.flag("ward", other).await;
    assert!(
        hub.wait_for_text("main", "LIVEUPDATE", Duration::from_secs(3))
            .await,
        "live update did not arrive"
    );

    // signing out ends the session
    ward.click(".nhsuk-header__account-button").await;
    ward.expect("h1", "Sign in").await;
    ward.go("/ward").await;
    ward.expect("h1", "Sign in").await;
    ward.check("login").await;

    for p in [ward, hub, provider, provider2] {
        p.c.close().await.ok();
    }
}

#[tokio::test]
async fn every_role_works_on_a_phone_without_scrolling_sideways() {
    if !browser_present("every_role_works_on_a_phone_without_scrolling_sideways") {
        return;
    }
    let app = TestApp::spawn_at(chrono::Utc::now()).await;
    let now = app.clock.now();
    let driver = chromedriver().await;
    // a patient awaiting a pathway 2 bed with a long name, referred to PRV1
    let mut p = patient_at(NHS[0], now);
    p["family_name"] = json!("Featherstonehaugh-Cholmondeley");
    p["given_name"] = json!("Maximiliana");
    let id = id_of(&app.flag("ward", p).await);
    app.choose_pathway(id, 2).await;
    let mut bed = offer_at(2, now);
    bed["service_type"] = json!("step_down_bed");
    let bed = app.post_offer("provider", bed).await;
    app.refer(id, id_of(&bed)).await;

    // the page fits the phone once laid out (the design system's header script moves menu
    // items into "More" after load: give it up to two seconds)
    let fits = |p: &Person, label: &'static str, width: i64| {
        let c = p.c.clone();
        async move {
            let until = Instant::now() + Duration::from_secs(2);
            loop {
                let widths = c
                    .execute(
                        "return [document.documentElement.scrollWidth, window.innerWidth, document.body.classList.contains('nhsuk-frontend-supported')];",
                        vec![],
                    )
                    .await
                    .unwrap();
                let (scroll, inner) = (
                    widths[0].as_i64().unwrap_or(0),
                    widths[1].as_i64().unwrap_or(0),
                );
                assert_eq!(
                    widths[2],
                    json!(true),
                    "{label}: the design system's script ran"
                );
                if inner == width && scroll <= inner {
                    return;
                }
                if Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                // name what sticks out, to make the failure easy to fix
                let wide = c
                    .execute(
                        "return Array.from(document.querySelectorAll('body *'))
                           .filter(e => e.getBoundingClientRect().right > arguments[0] + 1)
                           .slice(0, 12)
                           .map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '') + ' ' + Math.round(e.getBoundingClientRect().right));",
                        vec![json!(width)],
                    )
                    .await
                    .unwrap_or_default();
                panic!(
                    "{label} is wider than a {width}px phone ({scroll}px of content, {inner}px laid out): {wide}"
                );
            }
        }
    };
    let pages: &[(&'static str, &[&'static str])] = &[
        (
            "ward",
            &[
                "/ward",
                "/patients/new",
                "/board",
                "/notifications",
                "/directory",
            ],
        ),
        (
            "hub",
            &[
                "/hub",
                "/board",
                "/hub/choice",
                "/reports/sitrep",
                "/reports/flow",
                "/notifications",
                "/directory",
            ],
        ),
        (
            "provider",
            &[
                "/provider",
                "/provider/offers",
                "/provider/offers/new",
                "/directory/mine",
            ],
        ),
        (
            "admin",
            &["/admin/users", "/admin/users/new", "/admin/access"],
        ),
    ];
    for width in [390, 320] {
        for (user, paths) in pages {
            let person = Person::on_phone(&driver, &app.base, user, width as u32).await;
            for path in *paths {
                person.go(path).await;
                fits(&person, path, width).await;
            }
            if *user == "hub" {
                person.go(&format!("/patients/{id}")).await;
                fits(&person, "case page", width).await;
            }
            if *user == "provider" && width == 390 {
                // a tap on Accept submits, and the page after it fits too
                person.go("/provider").await;
                // (by XPath: chromedriver's CSS lookup misses this button under phone emulation,
                // though the page has it)
                person
                    .c
                    .find(Locator::XPath(
                        "//form[contains(@action,'/accept')]//button",
                    ))
                    .await
                    .expect("the Accept button")
                    .click()
                    .await
                    .expect("a tap on Accept");
                assert!(
                    person
                        .wait_for_text("main", "FEATHERSTONEHAUGH", Duration::from_secs(5))
                        .await,
                    "accepting by tap shows the patient"
                );
                fits(&person, "provider after accepting", width).await;
            }
            person.c.clone().close().await.ok();
        }
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM referrals WHERE patient_id = {id} AND status = 'accepted'"
        ))
        .await,
        1
    );
}
