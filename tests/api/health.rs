use crate::helpers::*;

#[tokio::test]
async fn live_answers_ok() {
    let app = spawn_app().await;
    let res = app.get("/health/live").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn ready_reports_database_and_current_schema() {
    let app = spawn_app().await;
    let res = app.get("/health/ready").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let expected = match app.backend() {
        sportello::db::Backend::Sqlite => "sqlite",
        sportello::db::Backend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
}

#[tokio::test]
async fn ready_is_503_while_migrations_are_pending() {
    let app = spawn_empty_app_with(|s| s.database.migrate_on_start = false).await;
    let res = app.get("/health/ready").await;
    assert_problem(res, 503, "unavailable").await;
    // Live does not depend on the database.
    assert_eq!(app.get("/health/live").await.status(), 200);
    // Once migrated, the same instance becomes ready.
    app.db.migrate().unwrap();
    assert_eq!(app.get("/health/ready").await.status(), 200);
}
