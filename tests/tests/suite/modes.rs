//! Orchestration modes end to end (one `chat` job each): with a provider
//! double that answers as whichever model it is asked for, and once with
//! the real local model.

use std::time::Duration;

use chorus_shared::config::{ModelSettings, ProviderSettings};
use chorus_shared::domain::JobStatus;
use chorus_tests::provider::AsModel;
use chorus_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::{matchers::method, Mock, MockServer};

async fn app_with_double() -> (TestApp, MockServer) {
    let double = MockServer::start().await;
    Mock::given(method("POST")).respond_with(AsModel).mount(&double).await;
    let url = double.uri();
    let app = TestApp::spawn_with(1, move |s| {
        s.llm.providers.insert("double".into(), ProviderSettings { base_url: url, ..Default::default() });
        for alias in ["alpha", "beta", "gamma", "judge"] {
            let m = ModelSettings {
                provider: "double".into(),
                name: format!("{alias}-up"),
                context_tokens: 400,
                ..Default::default()
            };
            s.llm.models.insert(alias.into(), m);
        }
        let b = ModelSettings {
            provider: "local".into(),
            name: "smollm2".into(),
            context_tokens: 2048,
            ..Default::default()
        };
        s.llm.models.insert("smollm2-b".into(), b);
        s.llm.router.code = "gamma".into();
        s.llm.router.latency_target_ms = 1_000;
    })
    .await;
    (app, double)
}

/// Sends one message in `body`'s mode and returns the finished job's result.
async fn turn(app: &TestApp, body: Value) -> Value {
    let resp = app
        .post(&app.admin_key, "/v1/conversations")
        .json(&json!({"system_prompt": "Be brief."}))
        .send()
        .await
        .unwrap();
    let conv: Value = resp.json().await.unwrap();
    let path = format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap());
    let resp = app.post(&app.admin_key, &path).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let posted: Value = resp.json().await.unwrap();
    let job: Uuid = posted["job"]["id"].as_str().unwrap().parse().unwrap();
    let done = app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(120)).await;
    let progress = done.progress.unwrap();
    assert_eq!(Some(progress.done), progress.total, "every step reported");
    let mut result = done.result.unwrap();
    result["messages"] = app.get_json(&app.admin_key, &path).await["items"].clone();
    result
}

fn steps(result: &Value) -> Vec<(String, String)> {
    result["meta"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_string(), s["model"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_consensus_chain_debate_and_router_run_end_to_end() {
    let (app, double) = app_with_double().await;

    let r = turn(&app, json!({"content": "Name a colour.", "mode": "compare", "models": ["alpha", "beta"]})).await;
    let answers: Vec<&str> = r["answers"].as_array().unwrap().iter().map(|a| a["content"].as_str().unwrap()).collect();
    assert_eq!(answers, vec!["alpha-up answer", "beta-up answer"]);
    assert_eq!(r["messages"].as_array().unwrap().len(), 3, "both answers stored side by side");

    let r = turn(
        &app,
        json!({"content": "Name a colour.", "mode": "consensus", "models": ["alpha", "beta"], "judge": "judge"}),
    )
    .await;
    assert_eq!(r["content"], "judge-up answer");
    assert_eq!(
        steps(&r),
        vec![
            ("answer:alpha".into(), "alpha".into()),
            ("answer:beta".into(), "beta".into()),
            ("judge".into(), "judge".into())
        ]
    );
    let judged: Value = double.received_requests().await.unwrap().last().unwrap().body_json().unwrap();
    let prompt = judged["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("alpha-up answer") && prompt.contains("beta-up answer") && prompt.contains("Disagreements")
    );
    assert_eq!(r["usage"]["prompt_tokens"], 30, "usage sums the three calls");

    let r = turn(&app, json!({"content": "Plan a trip.", "mode": "chain", "models": ["alpha", "beta"]})).await;
    let labels: Vec<(String, String)> = steps(&r);
    assert_eq!(
        labels,
        vec![
            ("chain:break_down".into(), "alpha".into()),
            ("chain:propose".into(), "beta".into()),
            ("chain:critique".into(), "alpha".into()),
            ("chain:synthesise".into(), "beta".into()),
        ]
    );
    assert_eq!(r["content"], "beta-up answer");
    let fed: Value = double.received_requests().await.unwrap().last().unwrap().body_json().unwrap();
    assert!(
        fed["messages"][1]["content"].as_str().unwrap().contains("[critique]\nalpha-up answer"),
        "each output feeds the next"
    );

    let r = turn(&app, json!({"content": "Tabs or spaces?", "mode": "debate", "models": ["alpha", "beta"], "judge": "judge", "rounds": 2})).await;
    let labels: Vec<String> = steps(&r).into_iter().map(|s| s.0).collect();
    assert_eq!(labels, vec!["pro:1", "con:1", "pro:2", "con:2", "judge"]);
    assert_eq!(r["content"], "judge-up answer");

    let r = turn(
        &app,
        json!({"content": "Why does this Rust code not compile?", "mode": "router", "models": ["alpha", "gamma"]}),
    )
    .await;
    assert_eq!((r["model"].as_str(), r["content"].as_str()), (Some("gamma"), Some("gamma-up answer")));
    assert!(r["route_reason"].as_str().unwrap().contains("code"), "{r}");
    let r = turn(&app, json!({"content": "Hello there.", "mode": "router", "models": ["alpha", "gamma"]})).await;
    assert!(r["route_reason"].as_str().unwrap().contains("general"), "{r}");
    // gamma has been slow this hour: the code prompt goes to alpha instead.
    let tenant = chorus_shared::services::auth::authenticate(&app.ctx.pool, &app.admin_key).await.unwrap().tenant_id;
    let mut conn = app.ctx.pool.get().await.unwrap();
    use diesel_async::RunQueryDsl;
    diesel::sql_query("INSERT INTO llm_usage (tenant_id, provider, model, latency_ms) SELECT $1, 'double', 'gamma-up', 5000 FROM generate_series(1, 20)")
        .bind::<diesel::sql_types::Uuid, _>(tenant)
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let r = turn(
        &app,
        json!({"content": "Why does this Rust code not compile?", "mode": "router", "models": ["alpha", "gamma"]}),
    )
    .await;
    assert_eq!(r["model"], "alpha", "{r}");
    assert!(r["route_reason"].as_str().unwrap().contains("over the 1000 ms target"), "{r}");

    let usage = app.get_json(&app.admin_key, "/v1/usage").await;
    let calls: i64 = usage.as_array().unwrap().iter().map(|u| u["calls"].as_i64().unwrap()).sum();
    assert_eq!(calls, 2 + 3 + 4 + 5 + 1 + 1 + 1 + 20, "one usage row per model call (and 20 planted)");

    let resp = app.post(&app.admin_key, "/v1/conversations").json(&json!({})).send().await.unwrap();
    let conv: Value = resp.json().await.unwrap();
    let path = format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap());
    let one = app
        .post(&app.admin_key, &path)
        .json(&json!({"content": "x", "mode": "compare", "models": ["alpha"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 422, "compare needs two models");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debate_runs_on_the_local_model() {
    let (app, _double) = app_with_double().await;
    let r = turn(
        &app,
        json!({"content": "Is tea better than coffee?", "mode": "debate", "models": ["smollm2", "smollm2-b"],
            "judge": "smollm2", "rounds": 1, "settings": {"temperature": 0, "max_tokens": 40}}),
    )
    .await;
    assert_eq!(steps(&r).len(), 3);
    assert!(!r["content"].as_str().unwrap().trim().is_empty(), "{r}");
    assert!(r["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rag_injects_sources_and_stores_their_citations() {
    let (app, double) = app_with_double().await;
    let text = "The Zorblat reactor is cooled by liquid argon pumped at four bar.";
    let resp =
        crate::documents::upload_as(&app, &app.admin_key, text.as_bytes().to_vec(), "reactor.txt", "text/plain", "ops")
            .await;
    let doc: Value = resp.json().await.unwrap();
    let doc_id = doc["document"]["id"].as_str().unwrap().to_string();
    crate::documents::settled(&app, &doc_id).await;
    let r = turn(
        &app,
        json!({"content": "How is the Zorblat reactor cooled?", "models": ["alpha"],
        "rag": {"enabled": true, "filters": {"tags": ["ops"]}, "top_k": 3}}),
    )
    .await;
    let cited = &r["citations"][0];
    assert_eq!(cited["document_id"], doc_id, "{r}");
    assert_eq!((cited["title"].as_str(), cited["page"].as_i64()), (Some("reactor.txt"), Some(1)));
    let sent: Value = double.received_requests().await.unwrap().last().unwrap().body_json().unwrap();
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("Be brief.") && system.contains("[1] reactor.txt (page 1): The Zorblat reactor"),
        "{system}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_strategy_summarises_older_turns_once_and_extends_its_summary() {
    let (app, double) = app_with_double().await;
    let resp = app
        .post(&app.admin_key, "/v1/conversations")
        .json(&json!({"system_prompt": "Be brief.", "models": ["alpha"],
            "settings": {"context_strategy": "summary", "max_tokens": 50}}))
        .send()
        .await
        .unwrap();
    let conv: Value = resp.json().await.unwrap();
    let id: Uuid = conv["id"].as_str().unwrap().parse().unwrap();
    // Ten old turns, written directly: far more than alpha's context allows.
    let tenant = chorus_shared::services::auth::authenticate(&app.ctx.pool, &app.admin_key).await.unwrap().tenant_id;
    let mut conn = app.ctx.pool.get().await.unwrap();
    use diesel_async::RunQueryDsl;
    for i in 0..10 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        diesel::sql_query(
            "INSERT INTO messages (id, conversation_id, tenant_id, role, content) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
        .bind::<diesel::sql_types::Uuid, _>(id)
        .bind::<diesel::sql_types::Uuid, _>(tenant)
        .bind::<diesel::sql_types::Text, _>(role)
        .bind::<diesel::sql_types::Text, _>(format!("turn {i}: {}", "lorem ipsum ".repeat(60)))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    drop(conn);
    let path = format!("/v1/conversations/{id}/messages");
    for (round, covered) in [(1, 10), (2, 12)] {
        let resp = app
            .post(&app.admin_key, &path)
            .json(&json!({"content": format!("question {round}")}))
            .send()
            .await
            .unwrap();
        let posted: Value = resp.json().await.unwrap();
        let job: Uuid = posted["job"]["id"].as_str().unwrap().parse().unwrap();
        let done = app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(60)).await;
        let context = done.result.unwrap()["meta"]["context"].clone();
        assert_eq!(context["strategy"], "summary", "{context}");
        assert_eq!(context["summarised_messages"], covered, "{context}");
        let requests = double.received_requests().await.unwrap();
        let summarise: Value = requests[requests.len() - 2].body_json().unwrap();
        let answer: Value = requests[requests.len() - 1].body_json().unwrap();
        let asked = summarise["messages"][1]["content"].as_str().unwrap();
        assert_eq!(asked.starts_with("Summary so far:"), round == 2, "the second turn extends the stored summary");
        let system = answer["messages"][0]["content"].as_str().unwrap();
        assert!(
            system.starts_with("Be brief.") && system.contains("Summary of the earlier conversation:\nalpha-up answer")
        );
        assert_eq!(answer["messages"].as_array().unwrap().len(), 2, "summary + the question");
    }
    let stored = app.get_json(&app.admin_key, &format!("/v1/conversations/{id}")).await;
    assert_eq!(stored["summary"], "alpha-up answer");
}
