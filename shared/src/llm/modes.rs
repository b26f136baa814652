//! Orchestration modes of one chat turn, over the registry: each mode is a
//! plan of model calls whose results feed the next, run inside one `chat`
//! job with a sub-result per call.
//!
//! - `single`: one model answers.
//! - `compare`: every model answers the same prompt, in parallel; all
//!   answers are kept side by side.
//! - `consensus`: every model answers, then a judge picks or merges the
//!   best answer and lists where they disagree.
//! - `chain`: each model's output feeds the next, with role prompts
//!   (break down → propose → critique → synthesise, cycling).
//! - `debate`: a pro and a con model argue for `rounds` rounds; a judge
//!   gives the verdict and reasons.
//! - `router`: rules pick one model (see [`route`]); the choice and its
//!   reason are recorded.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::registry::{CallOptions, Outcome, Registry};
use super::{ChatMessage, ProviderError, Role};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Single,
    Compare,
    Consensus,
    Chain,
    Debate,
    Router,
}

impl Mode {
    /// Models the mode needs at least (the judge comes on top).
    pub fn min_models(self) -> usize {
        match self {
            Mode::Single | Mode::Router | Mode::Chain => 1,
            Mode::Compare | Mode::Consensus | Mode::Debate => 2,
        }
    }
}

/// One call of a plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// `answer`, `judge`, `chain:<role>`, `pro:<round>`, `con:<round>`.
    pub label: String,
    pub alias: String,
    pub outcome: Outcome,
}

/// What a mode produced: the final text and every step.
#[derive(Debug, Clone)]
pub struct ModeResult {
    pub text: String,
    /// The alias whose text is final (the judge, the last in a chain, …).
    pub final_alias: String,
    pub steps: Vec<Step>,
    /// Why the router chose its model.
    pub route_reason: Option<String>,
}

/// Receives progress (`done` steps of `total`) and streamed text tagged
/// with its step's label.
pub trait Sink: Send {
    fn token(&mut self, step: &str, text: &str);
    fn progress(&mut self, done: usize, total: usize);
    /// A line about what is happening now (e.g. which tool runs).
    fn note(&mut self, _message: &str) {}
}

const CHAIN_ROLES: &[(&str, &str)] = &[
    ("break_down", "Break the problem below into its parts. Do not solve it yet."),
    ("propose", "Propose a solution, using the breakdown so far."),
    ("critique", "Critique the proposal so far: what is wrong or missing?"),
    ("synthesise", "Write the final answer, taking the critique into account."),
];

fn with_system(history: &[ChatMessage], extra: &str) -> Vec<ChatMessage> {
    let mut out = Vec::with_capacity(history.len() + 1);
    out.push(ChatMessage::new(Role::System, extra));
    out.extend(history.iter().filter(|m| m.role != Role::System).cloned());
    if let Some(sys) = history.iter().find(|m| m.role == Role::System) {
        out[0].content = format!("{}\n\n{extra}", sys.content);
    }
    out
}

fn question(history: &[ChatMessage]) -> String {
    history.iter().rev().find(|m| m.role == Role::User).map(|m| m.content.clone()).unwrap_or_default()
}

/// Runs one call, streaming its tokens to `sink` under `label`.
async fn step(
    registry: &Registry,
    redis: Option<(&redis::aio::ConnectionManager, &str)>,
    label: &str,
    alias: &str,
    messages: &[ChatMessage],
    options: &CallOptions,
    sink: &mut dyn Sink,
) -> Result<Step, ProviderError> {
    let mut on = |t: &str| sink.token(label, t);
    let outcome = registry.chat(redis, alias, messages, options, &mut on).await.map_err(|(e, _)| e)?;
    Ok(Step { label: label.into(), alias: alias.into(), outcome })
}

/// What the router knows about the tenant and the models' recent speed.
#[derive(Debug, Clone, Default)]
pub struct RouteFacts {
    pub spent_today_usd: f64,
    /// Average latency over the last hour by alias (absent: no calls).
    pub latency_ms: std::collections::HashMap<String, f64>,
}

/// The router's choice among `models` for `prompt`, and why.
pub fn route(registry: &Registry, models: &[String], prompt: &str, facts: &RouteFacts) -> (String, String) {
    let (choice, reason) = route_by_rules(registry, models, prompt, facts.spent_today_usd);
    let target = registry.settings().router.latency_target_ms as f64;
    let slow = |a: &String| facts.latency_ms.get(a).is_some_and(|ms| *ms > target);
    if target > 0.0 && slow(&choice) {
        let fastest = models.iter().filter(|a| !slow(a)).min_by(|a, b| {
            let (x, y) = (facts.latency_ms.get(*a).unwrap_or(&0.0), facts.latency_ms.get(*b).unwrap_or(&0.0));
            x.total_cmp(y)
        });
        if let Some(f) = fastest {
            let ms = facts.latency_ms[&choice];
            return (f.clone(), format!("{reason}; but {choice} averaged {ms:.0} ms over the {target:.0} ms target"));
        }
    }
    (choice, reason)
}

fn route_by_rules(registry: &Registry, models: &[String], prompt: &str, spent_today_usd: f64) -> (String, String) {
    let r = &registry.settings().router;
    let words = prompt.to_lowercase();
    let tokens = models
        .iter()
        .map(|a| super::tokens::Counter::for_model(&registry.model(a).cloned().unwrap_or_default()).count(prompt))
        .max()
        .unwrap_or(0);
    let cfg = |a: &String| registry.model(a).cloned().unwrap_or_default();
    let cheapest =
        || models.iter().min_by(|a, b| cfg(a).output_usd_per_mtok.total_cmp(&cfg(b).output_usd_per_mtok)).cloned();
    if r.daily_cost_cap_usd > 0.0 && spent_today_usd >= r.daily_cost_cap_usd {
        if let Some(m) = cheapest() {
            return (
                m,
                format!("cost cap: ${spent_today_usd:.4} spent today of ${:.4}; cheapest model", r.daily_cost_cap_usd),
            );
        }
    }
    let smallest = models.iter().map(|a| cfg(a).context_tokens).min().unwrap_or(0);
    if tokens * 2 > smallest {
        if let Some(m) = models.iter().max_by_key(|a| cfg(a).context_tokens) {
            return (m.clone(), format!("long prompt (~{tokens} tokens): largest context"));
        }
    }
    let code = prompt.contains("```")
        || ["code", "function", "compile", "error", "bug", "sql", "python", "rust", "regex", "stack trace"]
            .iter()
            .any(|k| words.contains(k));
    let creative =
        ["poem", "story", "imagine", "lyrics", "creative", "haiku", "slogan"].iter().any(|k| words.contains(k));
    let (task, preferred) = if code {
        ("code", &r.code)
    } else if creative {
        ("creative", &r.creative)
    } else {
        ("general", &r.general)
    };
    if models.contains(preferred) {
        return (preferred.clone(), format!("task {task}: configured model"));
    }
    let fallback = if task == "general" { cheapest() } else { None }.unwrap_or_else(|| models[0].clone());
    (fallback, format!("task {task}: no configured model among the candidates"))
}

/// Runs `mode` over `models` (and `judge` where the mode needs one).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    registry: &Registry,
    redis: Option<(&redis::aio::ConnectionManager, &str)>,
    mode: Mode,
    models: &[String],
    judge: &str,
    rounds: usize,
    history: &[ChatMessage],
    options: &CallOptions,
    facts: &RouteFacts,
    sink: &mut dyn Sink,
) -> Result<ModeResult, ProviderError> {
    let q = question(history);
    let mut steps: Vec<Step> = Vec::new();
    match mode {
        Mode::Single | Mode::Router => {
            let (alias, reason) = if mode == Mode::Router {
                let (a, why) = route(registry, models, &q, facts);
                (a, Some(why))
            } else {
                (models[0].clone(), None)
            };
            sink.progress(0, 1);
            let s = step(registry, redis, "answer", &alias, history, options, sink).await?;
            sink.progress(1, 1);
            Ok(ModeResult {
                text: s.outcome.response.content.clone(),
                final_alias: alias,
                steps: vec![s],
                route_reason: reason,
            })
        }
        Mode::Compare | Mode::Consensus => {
            let total = models.len() + usize::from(mode == Mode::Consensus);
            sink.progress(0, total);
            // In parallel; tokens are gathered per model and passed on as
            // each answer completes.
            let calls = models.iter().map(|alias| async move {
                let mut buf = Vec::new();
                let mut on = |t: &str| buf.push(t.to_string());
                let r = registry.chat(redis, alias, history, options, &mut on).await.map_err(|(e, _)| e);
                (alias.clone(), buf, r)
            });
            for (alias, buf, r) in futures::future::join_all(calls).await {
                let label = format!("answer:{alias}");
                for t in buf {
                    sink.token(&label, &t);
                }
                steps.push(Step { label, alias, outcome: r? });
                sink.progress(steps.len(), total);
            }
            if mode == Mode::Compare {
                let text = steps
                    .iter()
                    .map(|s| format!("[{}]\n{}", s.alias, s.outcome.response.content))
                    .collect::<Vec<_>>()
                    .join("\n\n");
                return Ok(ModeResult { text, final_alias: models[0].clone(), steps, route_reason: None });
            }
            let answers: String = steps
                .iter()
                .enumerate()
                .map(|(i, s)| format!("Answer {} (from {}):\n{}\n", i + 1, s.alias, s.outcome.response.content))
                .collect();
            let prompt = format!(
                "Question:\n{q}\n\n{answers}\nPick or merge the best answer into one final answer. Then, under the \
                 heading 'Disagreements:', list where the answers disagree (or 'none')."
            );
            let judged = vec![
                ChatMessage::new(Role::System, "You are a careful judge of answers."),
                ChatMessage::new(Role::User, prompt),
            ];
            let s = step(registry, redis, "judge", judge, &judged, options, sink).await?;
            let text = s.outcome.response.content.clone();
            steps.push(s);
            sink.progress(total, total);
            Ok(ModeResult { text, final_alias: judge.into(), steps, route_reason: None })
        }
        Mode::Chain => {
            let n = models.len().max(CHAIN_ROLES.len());
            let mut so_far = String::new();
            for i in 0..n {
                let (role, instruction) = if i + 1 == n { CHAIN_ROLES[3] } else { CHAIN_ROLES[i.min(2)] };
                let alias = &models[i % models.len()];
                let prompt =
                    if so_far.is_empty() { q.clone() } else { format!("Problem:\n{q}\n\nWork so far:\n{so_far}") };
                let messages = vec![ChatMessage::new(Role::System, instruction), ChatMessage::new(Role::User, prompt)];
                sink.progress(i, n);
                let s = step(registry, redis, &format!("chain:{role}"), alias, &messages, options, sink).await?;
                so_far.push_str(&format!("\n[{role}]\n{}\n", s.outcome.response.content));
                steps.push(s);
            }
            sink.progress(n, n);
            let last = steps.last().expect("a chain has steps");
            Ok(ModeResult {
                text: last.outcome.response.content.clone(),
                final_alias: last.alias.clone(),
                steps,
                route_reason: None,
            })
        }
        Mode::Debate => {
            let (pro, con) = (&models[0], &models[1]);
            let rounds = rounds.clamp(1, 5);
            let total = rounds * 2 + 1;
            let mut transcript = String::new();
            for round in 1..=rounds {
                for (side, alias, stance) in [("pro", pro, "for"), ("con", con, "against")] {
                    let instruction =
                        format!("You argue {stance} the position in the question. Be brief and specific.");
                    let prompt =
                        if transcript.is_empty() { q.clone() } else { format!("{q}\n\nDebate so far:\n{transcript}") };
                    let messages = with_system(&[ChatMessage::new(Role::User, prompt)], &instruction);
                    sink.progress(steps.len(), total);
                    let s = step(registry, redis, &format!("{side}:{round}"), alias, &messages, options, sink).await?;
                    transcript.push_str(&format!(
                        "\n{} (round {round}): {}\n",
                        side.to_uppercase(),
                        s.outcome.response.content
                    ));
                    steps.push(s);
                }
            }
            let messages = vec![
                ChatMessage::new(Role::System, "You judge debates fairly."),
                ChatMessage::new(
                    Role::User,
                    format!("Question:\n{q}\n\nDebate:\n{transcript}\nGive your verdict, then your reasons."),
                ),
            ];
            let s = step(registry, redis, "judge", judge, &messages, options, sink).await?;
            let text = s.outcome.response.content.clone();
            steps.push(s);
            sink.progress(total, total);
            Ok(ModeResult { text, final_alias: judge.into(), steps, route_reason: None })
        }
    }
}
