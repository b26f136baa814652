//! The page shell (landmarks, skip link, navigation), shared bits (status
//! badges, small SVG charts, forms with the CSRF token), and the static CSS
//! and JS the pages load (served from here: the CSP allows no inline code).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use chorus_shared::domain::Role;
use chorus_shared::services::sessions::Session;

const CSS: &str = r#"
:root { font-family: system-ui, sans-serif; color: #1a1a1a; background: #fff; }
body { margin: 0; }
a { color: #0645ad; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .5rem 1rem; background: #1d2b3a; color: #fff; }
header a { color: #fff; } header nav ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; }
header nav a[aria-current=page] { font-weight: bold; text-decoration: underline; }
header form { margin-left: auto; }
main { padding: 1rem; max-width: 80rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ccc; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { padding: 0 .4rem; border-radius: 3px; border: 1px solid; }
.status-succeeded { color: #0b6b1d; } .status-failed, .status-dead { color: #a4000f; }
.status-running { color: #00529b; } .status-cancelled { color: #555; }
button { padding: .25rem .7rem; cursor: pointer; }
button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
pre { background: #f4f4f4; padding: .5rem; overflow-x: auto; max-height: 20rem; }
form.inline { display: inline; }
.filters { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; margin-bottom: 1rem; }
.filters label, .stack label { display: flex; flex-direction: column; font-size: .9rem; }
.notice { border-left: 4px solid #00529b; padding: .3rem .6rem; background: #eef5fb; }
.error { border-left: 4px solid #a4000f; padding: .3rem .6rem; background: #fbeeee; }
"#;

const JS: &str = r#"
// Live progress of a job page: follows the job's event stream and reloads
// the page once the job has ended, to show its result and buttons.
(function () {
  var bar = document.getElementById('progress');
  if (!bar || !window.EventSource) return;
  var stage = document.getElementById('stage');
  var count = document.getElementById('count');
  var status = document.getElementById('status');
  var events = new EventSource(bar.dataset.events);
  events.addEventListener('progress', function (e) {
    var p = JSON.parse(e.data).data || {};
    if (p.total) { bar.max = p.total; }
    if (typeof p.done === 'number') {
      bar.value = p.done;
      bar.textContent = count.textContent = p.done + ' of ' + (p.total || '?');
    }
    stage.textContent = [p.stage, p.message].filter(Boolean).join(': ');
  });
  events.addEventListener('state', function (e) {
    var s = JSON.parse(e.data).status;
    if (s) { status.textContent = s; status.className = 'status status-' + s; }
    if (['succeeded', 'failed', 'cancelled', 'dead'].indexOf(s) >= 0) { events.close(); location.reload(); }
  });
})();
"#;

pub async fn css() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(CSS)
}

pub async fn js() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(JS)
}

const NAV: [(&str, &str); 6] = [
    ("/dashboard", "Overview"),
    ("/dashboard/jobs", "Jobs"),
    ("/dashboard/dead", "Dead"),
    ("/dashboard/webhooks", "Webhooks"),
    ("/dashboard/documents", "Documents"),
    ("/dashboard/usage", "Usage"),
];

/// A whole page: `current` is the navigation entry to mark.
pub fn page(title: &str, current: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Chorus" }
                link rel="stylesheet" href="/dashboard/app.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    strong { "Chorus" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            ul {
                                @for (href, label) in NAV {
                                    li { a href=(href) aria-current=[(href == current).then_some("page")] { (label) } }
                                }
                            }
                        }
                        span { "Signed in as " (s.principal.role.as_str()) }
                        form.inline method="post" action="/dashboard/logout" {
                            (csrf(s))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                script src="/dashboard/app.js" defer {}
            }
        }
    }
}

/// The page of an error: its code and message.
pub fn error_page(status: StatusCode, code: &str, message: &str) -> Markup {
    let body = html! {
        p.error role="alert" { strong { (code) } ": " (message) }
        p { a href="/dashboard" { "Back to the overview" } }
    };
    page(status.canonical_reason().unwrap_or("Error"), "", None, body)
}

/// The hidden CSRF field of a form.
pub fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// A one-button form that POSTs to `action`.
pub fn button(s: &Session, action: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(s))
            button type="submit" { (label) }
        }
    }
}

/// Whether the session's role reaches `role`.
pub fn may(s: &Session, role: Role) -> bool {
    s.principal.role.allows(role)
}

/// A status as text in a badge: the word carries the meaning, the colour
/// only repeats it.
pub fn status(s: &str) -> Markup {
    html! { span class={"status status-" (s)} { (s) } }
}

/// A bar chart of `values` (oldest first) as inline SVG, described for
/// screen readers by `label`.
pub fn bars(values: &[i64], label: &str) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (w, h, gap) = (8.0, 24.0, 2.0);
    let width = values.len() as f64 * (w + gap);
    html! {
        svg width=(width) height=(h) viewBox={"0 0 " (width) " " (h)} role="img" aria-label=(label) {
            title { (label) }
            @for (i, v) in values.iter().enumerate() {
                @let bar = (*v as f64 / max * h).max(if *v > 0 { 1.0 } else { 0.0 });
                rect x=(i as f64 * (w + gap)) y=(h - bar) width=(w) height=(bar) fill="#00529b" {}
            }
        }
    }
}

/// JSON, pretty, in a `pre`.
pub fn json_block(v: &serde_json::Value) -> Markup {
    html! { pre { (serde_json::to_string_pretty(v).unwrap_or_default()) } }
}
