//! Typed job declarations: a unique kind is queued once while one waits,
//! and a stored payload is the kind's typed arguments.

use chorus_shared::domain::JobStatus;
use chorus_shared::kinds::reconcile::Reconcile;
use chorus_shared::kinds::{self, JobArgs};
use chorus_shared::services::indexing::schedule_reconcile;
use chorus_tests::TestApp;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_kind_is_queued_once_while_one_waits() {
    // No worker: the first reconciliation stays queued.
    let app = TestApp::spawn_with(0, |_| {}).await;
    assert!(schedule_reconcile(&app.ctx).await.unwrap(), "the first one is queued");
    assert!(!schedule_reconcile(&app.ctx).await.unwrap(), "a second one is not, while the first waits");
    let (first, second) = tokio::join!(schedule_reconcile(&app.ctx), schedule_reconcile(&app.ctx));
    assert!(!first.unwrap() && !second.unwrap(), "nor concurrently");

    use chorus_shared::db::schema::jobs as j;
    let mut conn = app.ctx.pool.get().await.unwrap();
    let rows: Vec<(String, String, serde_json::Value)> = j::table
        .filter(j::kind.eq(Reconcile::KIND.name))
        .select((j::status, j::queue, j::payload))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (status, queue, payload) = &rows[0];
    assert_eq!(status, JobStatus::Queued.as_str());
    assert_eq!(queue, Reconcile::KIND.queue.as_str());
    assert!((kinds::find(Reconcile::KIND.name).unwrap().validate)(payload).is_ok(), "{payload}");
}
