//! The protocol register: gap-free, unique numbers per AOO and year under concurrency.

use crate::helpers::*;
use chrono::NaiveDateTime;
use serde_json::Value;
use sportello::db::write_tx;
use sportello::protocol::{register, NewRegistration};

#[tokio::test]
async fn two_hundred_concurrent_submissions_get_numbers_1_to_200_exactly_once() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let data = form_fixture("accesso-civico-generalizzato", "valid");
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(
            app.ready_draft("accesso-civico-generalizzato", data.clone())
                .await,
        );
    }
    let answers = futures_util::future::join_all(ids.iter().map(|id| app.submit(id, None))).await;
    let mut numbers = Vec::new();
    for res in answers {
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        numbers.push(
            body["protocol"]["number"]
                .as_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=200).collect::<Vec<u32>>());

    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        number: i64,
    }
    let stored: Vec<N> = diesel::RunQueryDsl::load(
        diesel::sql_query("SELECT number FROM protocol_registrations ORDER BY number"),
        &mut *app.conn(),
    )
    .unwrap();
    assert_eq!(
        stored.iter().map(|n| n.number).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<i64>>()
    );
    // Each registration is its instance's.
    let linked: i64 = {
        #[derive(diesel::QueryableByName)]
        struct C {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::RunQueryDsl::get_result::<C>(
            diesel::sql_query(
                "SELECT COUNT(DISTINCT i.registration_id) AS n FROM instances i \
                 JOIN protocol_registrations r ON r.id = i.registration_id AND r.instance_id = i.id",
            ),
            &mut *app.conn(),
        )
        .unwrap()
        .n
    };
    assert_eq!(linked, 200);
}

fn ids(app: &TestApp) -> (i64, i64) {
    #[derive(diesel::QueryableByName)]
    struct Ids {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        ente_id: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let r: Ids = diesel::RunQueryDsl::get_result(
        diesel::sql_query("SELECT ente_id, id FROM aoo"),
        &mut *app.conn(),
    )
    .unwrap();
    (r.ente_id, r.id)
}

fn reg_at(ente_id: i64, aoo_id: i64, at: &str) -> NewRegistration {
    NewRegistration {
        ente_id,
        aoo_id,
        at: NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M").unwrap(),
        direction: sportello::protocol::Direction::In,
        sender: "RSSMRA85T10A562S".into(),
        recipient: None,
        subject: "Prova".into(),
        document_digest: "0".repeat(64),
        attachments: vec![],
        instance_id: None,
        primary: false,
    }
}

#[tokio::test]
async fn the_number_restarts_at_1_with_the_italian_new_year() {
    let app = spawn_app().await;
    let (ente, aoo) = ids(&app);
    let mut conn = app.conn();
    let mut reg = |at: &str| write_tx(&mut conn, |c| register(c, &reg_at(ente, aoo, at))).unwrap();
    let a = reg("2026-12-31 20:00");
    let b = reg("2026-12-31 22:59"); // 23:59 in Rome
    let c = reg("2026-12-31 23:00"); // 00:00 of 1 January 2027 in Rome
    let d = reg("2027-01-01 09:00");
    assert_eq!((a.year, a.number.get()), (2026, 1));
    assert_eq!((b.year, b.number.get()), (2026, 2));
    assert_eq!((c.year, c.number.get()), (2027, 1));
    assert_eq!((d.year, d.number.get()), (2027, 2));
    assert_eq!(c.number.to_string(), "0000001");
}

#[tokio::test]
async fn a_rolled_back_registration_leaves_no_gap() {
    let app = spawn_app().await;
    let (ente, aoo) = ids(&app);
    let mut conn = app.conn();
    let first = write_tx(&mut conn, |c| {
        register(c, &reg_at(ente, aoo, "2026-06-01 10:00"))
    })
    .unwrap();
    let failed: anyhow::Result<()> = write_tx(&mut conn, |c| {
        register(c, &reg_at(ente, aoo, "2026-06-01 10:01"))?;
        anyhow::bail!("the rest of the submission failed")
    });
    assert!(failed.is_err());
    let next = write_tx(&mut conn, |c| {
        register(c, &reg_at(ente, aoo, "2026-06-01 10:02"))
    })
    .unwrap();
    assert_eq!((first.number.get(), next.number.get()), (1, 2));
}
