use crate::helpers::*;

#[tokio::test]
async fn lists_the_published_demo_services_with_their_cards() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/services").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["ente"]["code"], "c_x000");
    assert_eq!(body["ente"]["name"], "Comune di Esempio");
    let services = body["services"].as_array().unwrap();
    let slugs: Vec<&str> = services
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        [
            "cambio-di-residenza",
            "tari-inizio-occupazione",
            "accesso-civico-generalizzato",
            "appuntamento-anagrafe",
            "incontro-sindaco",
            "richiesta-appuntamento"
        ]
    );
    let residenza = &services[0];
    assert_eq!(residenza["title"], "Cambio di residenza o di indirizzo");
    assert_eq!(residenza["category"]["slug"], "anagrafe-e-stato-civile");
    assert_eq!(residenza["office"]["code"], "anagrafe");
    assert_eq!(residenza["legal_term_days"], 45);
    assert_eq!(residenza["legal_term_unit"], "calendar_days");
    assert_eq!(residenza["silence_assent"], true);
    let appointment = &services[5];
    assert!(
        appointment.get("booking").is_none(),
        "on request: no calendar"
    );
    assert_eq!(appointment["legal_term_unit"], "working_days");
    assert_eq!(appointment["silence_assent"], false);
    assert_eq!(residenza["min_auth_level"], 2);
    assert_eq!(residenza["requirements"].as_array().unwrap().len(), 3);
    assert!(residenza["who_can_apply"].as_str().unwrap().len() > 10);
    assert!(residenza["description"]
        .as_str()
        .unwrap()
        .contains("45 giorni"));
}

#[tokio::test]
async fn filters_by_category() {
    let app = spawn_app().await;
    let body: serde_json::Value = app
        .get("/api/v1/services?category=tributi")
        .await
        .json()
        .await
        .unwrap();
    let services = body["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0]["slug"], "tari-inizio-occupazione");

    let categories: serde_json::Value = app
        .get("/api/v1/service-categories")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(categories["categories"].as_array().unwrap().len(), 4);
    assert_eq!(
        categories["categories"][0]["slug"],
        "anagrafe-e-stato-civile"
    );
}

#[tokio::test]
async fn shows_one_service_and_404s_an_unknown_one() {
    let app = spawn_app().await;
    let res = app
        .get("/api/v1/services/accesso-civico-generalizzato")
        .await;
    assert_eq!(res.status(), 200);
    let card: serde_json::Value = res.json().await.unwrap();
    assert_eq!(card["title"], "Accesso civico e accesso agli atti (FOIA)");
    assert_eq!(card["office"]["name"], "Segreteria generale – URP");

    let res = app.get("/api/v1/services/non-esiste").await;
    assert_problem(res, 404, "not-found").await;
}

#[tokio::test]
async fn unpublished_services_are_not_shown() {
    let app = spawn_app().await;
    app.exec("UPDATE services SET published = false WHERE slug = 'tari-inizio-occupazione'");
    let body: serde_json::Value = app.get("/api/v1/services").await.json().await.unwrap();
    assert_eq!(body["services"].as_array().unwrap().len(), 5);
    let res = app.get("/api/v1/services/tari-inizio-occupazione").await;
    assert_problem(res, 404, "not-found").await;
}

#[tokio::test]
async fn public_data_by_path_and_ente_by_host_name() {
    let app = spawn_app_with(|s| {
        s.tenancy
            .hosts
            .insert("sportello.comune-b.example".into(), "c_b000".into());
    })
    .await;
    app.load_bundle(&repo_dir().join("tests/fixtures/ente-b"));

    // By path: each ente's own catalog.
    let a: serde_json::Value = app
        .get("/api/v1/enti/c_x000/services")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["services"].as_array().unwrap().len(), 6);
    let b: serde_json::Value = app
        .get("/api/v1/enti/c_b000/services")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["ente"]["name"], "Comune di Bilancia");
    assert_eq!(b["services"].as_array().unwrap().len(), 1);
    let one = app.get("/api/v1/enti/c_b000/services/segnalazione").await;
    assert_eq!(one.status(), 200);
    // A service of ente A is not reachable under ente B.
    let res = app
        .get("/api/v1/enti/c_b000/services/cambio-di-residenza")
        .await;
    assert_problem(res, 404, "not-found").await;
    let res = app.get("/api/v1/enti/c_zzzz/services").await;
    assert_problem(res, 404, "not-found").await;

    // By host name: the mapped host serves ente B, any other host the default ente.
    let b: serde_json::Value = app
        .client
        .get(app.url("/api/v1/services"))
        .header("host", "sportello.comune-b.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b["ente"]["code"], "c_b000");
    let a: serde_json::Value = app
        .client
        .get(app.url("/api/v1/services"))
        .header("host", "altro.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["ente"]["code"], "c_x000");
}

#[tokio::test]
async fn without_a_default_ente_an_unknown_host_gets_404() {
    let app = spawn_app_with(|s| {
        s.tenancy.default_ente = None;
        s.tenancy
            .hosts
            .insert("sportello.esempio.example".into(), "c_x000".into());
    })
    .await;
    let res = app.get("/api/v1/services").await;
    assert_problem(res, 404, "not-found").await;
    let res = app
        .client
        .get(app.url("/api/v1/services"))
        .header("host", "sportello.esempio.example:8443")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
