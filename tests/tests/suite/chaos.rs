//! Real worker processes: `kill -9` mid-job, and graceful SIGTERM.

use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::{wait_exit, TestApp};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

fn signal(child: &std::process::Child, sig: Signal) {
    kill(Pid::from_raw(child.id() as i32), sig).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_finishes_once_on_another_worker() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    let mut a = app.spawn_worker_process("victim", &[]);
    let id =
        app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 3000, "steps": 6}, "max_attempts": 3})).await;
    app.wait_for(id, Duration::from_secs(20), |j| j.status == JobStatus::Running && j.progress.is_some()).await;
    let mut b = app.spawn_worker_process("survivor", &[]);
    signal(&a, Signal::SIGKILL);
    let _ = a.wait();
    let killed_at = tokio::time::Instant::now();
    let done = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(30)).await;
    assert!(killed_at.elapsed() < Duration::from_secs(30));
    assert_eq!(done.attempts, 2);
    let events = app.history(id).await;
    let succeeded = events.iter().filter(|e| e.status == Some(JobStatus::Succeeded)).count();
    assert_eq!(succeeded, 1, "finished exactly once");
    let lost = events.iter().find(|e| e.status == Some(JobStatus::Retrying)).expect("a rescue event");
    assert_eq!(lost.data["code"], "worker_lost");
    let runs: Vec<_> =
        events.iter().filter(|e| e.status == Some(JobStatus::Running)).map(|e| e.data["worker"].clone()).collect();
    assert_eq!(runs, vec![json!("victim"), json!("survivor")]);
    signal(&b, Signal::SIGTERM);
    assert!(wait_exit(&mut b, Duration::from_secs(15)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_jobs_finish_and_hands_back_the_rest() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    // Grace 5 s: a 1.5 s job finishes.
    let mut w = app.spawn_worker_process("graceful", &[]);
    let short = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 1500}})).await;
    app.wait_for_status(short, JobStatus::Running, Duration::from_secs(20)).await;
    signal(&w, Signal::SIGTERM);
    assert!(wait_exit(&mut w, Duration::from_secs(15)).await.success());
    let job = app.job(short).await;
    assert_eq!(job.status, JobStatus::Succeeded, "the running job finished before exit");

    // Grace 300 ms: a 20 s job is handed back without using up its attempt.
    let grace = [("CHORUS__WORKER__SHUTDOWN_GRACE_MS", "300".to_string())];
    let mut w = app.spawn_worker_process("impatient", &grace);
    let long = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 20000, "steps": 20}})).await;
    app.wait_for_status(long, JobStatus::Running, Duration::from_secs(20)).await;
    signal(&w, Signal::SIGTERM);
    assert!(wait_exit(&mut w, Duration::from_secs(15)).await.success());
    let job = app.job(long).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Queued, 0), "handed back");
    let events = app.history(long).await;
    assert_eq!(events.last().unwrap().data["handed_back"], true);

    // Another worker picks it up (and, stopped, hands it back: no job is
    // left running once the test ends).
    let mut next = app.spawn_worker_process("next", &grace);
    let job = app.wait_for(long, Duration::from_secs(20), |j| j.status == JobStatus::Running).await;
    assert_eq!(job.attempts, 1);
    signal(&next, Signal::SIGTERM);
    assert!(wait_exit(&mut next, Duration::from_secs(15)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_after_its_worker_died_is_not_run_again() {
    let mut app = TestApp::spawn_with(0, |_| {}).await;
    let mut w = app.spawn_worker_process("doomed", &[]);
    let id = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 20000, "steps": 20}})).await;
    app.wait_for_status(id, JobStatus::Running, Duration::from_secs(20)).await;
    signal(&w, Signal::SIGKILL);
    let _ = w.wait();
    let resp = app.post(&app.admin_key, &format!("/v1/jobs/{id}/cancel")).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    app.start_worker().await; // its rescuer finds the orphan
    let job = app.wait_for_status(id, JobStatus::Cancelled, Duration::from_secs(20)).await;
    assert_eq!(job.attempts, 1, "not run again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_killing_its_worker_is_dead_as_poison_not_run_again() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    // Many attempts: only the poison rule can stop it.
    let id = app
        .submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 60000, "steps": 60}, "max_attempts": 10}))
        .await;
    // Three workers in turn each die running it (as a crashing job would do).
    for (n, name) in ["first", "second", "third"].iter().enumerate() {
        let mut w = app.spawn_worker_process(name, &[]);
        app.wait_for(id, Duration::from_secs(30), |j| j.status == JobStatus::Running && j.attempts == n as i32 + 1)
            .await;
        signal(&w, Signal::SIGKILL);
        let _ = w.wait();
    }
    // A fourth worker's rescuer finds it: the third loss makes it poison.
    let mut last = app.spawn_worker_process("last", &[]);
    let dead = app.wait_for_status(id, JobStatus::Dead, Duration::from_secs(30)).await;
    assert_eq!(dead.error.as_ref().map(|e| e.code.as_str()), Some("poison_job"), "{dead:?}");
    assert_eq!(dead.attempts, 3, "not run a fourth time");
    signal(&last, Signal::SIGTERM);
    assert!(wait_exit(&mut last, Duration::from_secs(15)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_the_successes_still_waiting_in_the_completer() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    // The attempt's slot frees when it hands its success to the completer,
    // which holds it for 3 s: the worker stops with no job running but one
    // end not yet written, and must write it before it exits.
    let hold = [("CHORUS__WORKER__COMPLETE_BATCH_MS", "3000".to_string())];
    let mut w = app.spawn_worker_process("holder", &hold);
    let id = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 100}})).await;
    app.wait_for(id, Duration::from_secs(20), |j| j.status == JobStatus::Running).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.job(id).await.status, JobStatus::Running, "not written yet");
    signal(&w, Signal::SIGTERM);
    assert!(wait_exit(&mut w, Duration::from_secs(15)).await.success());
    let job = app.job(id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1), "written before exit, run once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_waiting_in_the_completer_when_its_worker_is_killed_runs_again_once() {
    let app = TestApp::spawn_with(0, |_| {}).await;
    // This worker's completer holds successes for 30 s before it writes
    // them: long enough to kill the worker first.
    let hold = [("CHORUS__WORKER__COMPLETE_BATCH_MS", "30000".to_string())];
    let mut a = app.spawn_worker_process("holder", &hold);
    let id = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 100}, "max_attempts": 3})).await;
    app.wait_for(id, Duration::from_secs(20), |j| j.status == JobStatus::Running).await;
    // The attempt is over well within a second; its success is in memory only.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(app.job(id).await.status, JobStatus::Running, "not written yet");
    signal(&a, Signal::SIGKILL);
    let _ = a.wait();
    let mut b = app.spawn_worker_process("after", &[]);
    let done = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(30)).await;
    assert_eq!(done.attempts, 2, "the lost success made the job run again");
    let events = app.history(id).await;
    let succeeded = events.iter().filter(|e| e.status == Some(JobStatus::Succeeded)).count();
    assert_eq!(succeeded, 1, "one final status");
    let lost = events.iter().find(|e| e.status == Some(JobStatus::Retrying)).expect("a rescue");
    assert_eq!(lost.data["code"], "worker_lost");
    signal(&b, Signal::SIGTERM);
    assert!(wait_exit(&mut b, Duration::from_secs(15)).await.success());
}

/// The short chaos run (`just chaos` runs the long one): nothing lost,
/// stuck or done twice, every delivery received and signed, the vector
/// store consistent, and every killed job re-run within 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_chaos_run_loses_nothing_and_does_nothing_twice() {
    let report = chorus_tests::chaos::run(&chorus_tests::chaos::Plan::short()).await;
    eprintln!("{}", report.markdown("the test machine"));
    assert!(report.clean(), "{report:#?}");
}
