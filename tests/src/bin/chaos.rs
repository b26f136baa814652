//! `just chaos`: the long chaos run ([`chorus_tests::chaos::Plan::full`]),
//! its figures to `bench/results/chaos.md` (and `.json`). `CHAOS_JOBS` and
//! `CHAOS_DOCUMENTS` override the sizes. Exits 1 when a goal is missed.

use chorus_tests::chaos::{run, Plan};

#[tokio::main]
async fn main() {
    let mut plan = Plan::full();
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
    plan.jobs = env("CHAOS_JOBS").unwrap_or(plan.jobs);
    plan.documents = env("CHAOS_DOCUMENTS").unwrap_or(plan.documents);
    let machine = std::env::var("CHAOS_MACHINE").unwrap_or_else(|_| "unknown".into());
    let report = run(&plan).await;
    let page = report.markdown(&machine);
    print!("{page}");
    std::fs::create_dir_all("bench/results").unwrap();
    std::fs::write("bench/results/chaos.md", &page).unwrap();
    std::fs::write("bench/results/chaos.json", serde_json::to_string_pretty(&report).unwrap()).unwrap();
    if !report.clean() {
        eprintln!("chaos: a goal was missed (see bench/results/chaos.md)");
        std::process::exit(1);
    }
}
