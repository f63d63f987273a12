//! Nothing acknowledged is lost: the server process is killed (SIGKILL) while 100
//! submissions are in flight, then restarted. Every submission that got a success answer is
//! stored, registered and routed, numbers have no gaps, and every e-mail reaches the SMTP
//! server exactly once (delivered afterwards by two `sportello worker` processes).

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::*;
use serde_json::Value;

struct Env {
    url: String,
    port: u16,
    smtp_port: u16,
}

fn sportello(env: &Env, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sportello"));
    c.current_dir(repo_dir())
        .env("SPORTELLO_ENV", "test")
        .env("SPORTELLO_CONFIG_DIR", repo_dir().join("config"))
        .env("SPORTELLO__DATABASE__URL", &env.url)
        .env("SPORTELLO__SERVER__PORT", env.port.to_string())
        .env("SPORTELLO__MAIL__SMTP_PORT", env.smtp_port.to_string())
        .env("SPORTELLO__MAIL__WORKER", "external")
        .args(args);
    c
}

async fn wait_ready(port: u16) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
        {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become ready");
}

fn start_server(env: &Env) -> Child {
    sportello(env, &["serve"])
        .spawn()
        .expect("start sportello serve")
}

fn sigterm(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

#[tokio::test]
async fn a_killed_server_loses_nothing_it_acknowledged() {
    let smtp = SmtpSink::start();
    let env = Env {
        url: fresh_database_url(),
        port: free_port(),
        smtp_port: smtp.port,
    };
    let out = sportello(&env, &["load", "config/demo"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut server = start_server(&env);
    wait_ready(env.port).await;
    let base = format!("http://127.0.0.1:{}", env.port);
    let client = new_client();
    let res = client
        .post(format!("{base}/auth/dev/login"))
        .json(&serde_json::json!({ "codice_fiscale": CITIZEN_CF }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let data = form_fixture("accesso-civico-generalizzato", "valid");
    let mut ids = Vec::new();
    for _ in 0..100 {
        let draft: Value = client
            .post(format!("{base}/api/v1/instances"))
            .json(&serde_json::json!({ "service": "accesso-civico-generalizzato" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = draft["id"].as_str().unwrap().to_owned();
        let r = client
            .patch(format!("{base}/api/v1/instances/{id}"))
            .json(&data)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        ids.push(id);
    }

    // 100 submissions at once; SIGKILL when a quarter have been answered.
    let answered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let client = client.clone();
            let url = format!("{base}/api/v1/instances/{id}/submit");
            let answered = answered.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let res = client.post(url).send().await;
                let out = match res {
                    Ok(r) if r.status() == 201 => r.json::<Value>().await.ok(),
                    _ => None,
                };
                answered.fetch_add(1, Ordering::SeqCst);
                (id, out)
            })
        })
        .collect();
    while answered.load(Ordering::SeqCst) < 25 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let mut acknowledged: HashMap<String, Value> = HashMap::new();
    for t in tasks {
        let (id, out) = t.await.unwrap();
        if let Some(body) = out {
            acknowledged.insert(id, body);
        }
    }
    assert!(
        acknowledged.len() >= 25,
        "only {} acknowledged",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() < 100,
        "the kill came too late to test anything"
    );

    // Restart on the same database.
    let mut server = start_server(&env);
    wait_ready(env.port).await;
    let client = new_client();
    client
        .post(format!("{base}/auth/dev/login"))
        .json(&serde_json::json!({ "codice_fiscale": CITIZEN_CF }))
        .send()
        .await
        .unwrap();
    // Every acknowledged submission is there, as answered: registered and routed.
    for (id, ack) in &acknowledged {
        let view: Value = client
            .get(format!("{base}/api/v1/me/instances/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(view["status"], "submitted", "{id}");
        assert_eq!(view["protocol"], ack["protocol"], "{id}");
        assert_eq!(view["document_digest"], ack["document_digest"]);
        assert_eq!(view["office"]["code"], "urp");
    }
    // Whatever else was submitted before the kill is complete too, and the numbers have no
    // gaps: submitted instances, registrations and numbers 1..=n agree.
    let list: Value = client
        .get(format!("{base}/api/v1/me/instances?per_page=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let submitted: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "submitted")
        .collect();
    let mut numbers: Vec<u32> = submitted
        .iter()
        .map(|i| i["protocol"]["number"].as_str().unwrap().parse().unwrap())
        .collect();
    numbers.sort_unstable();
    let n = numbers.len() as u32;
    assert!(n >= acknowledged.len() as u32);
    assert_eq!(numbers, (1..=n).collect::<Vec<u32>>());

    // The citizen retries the ones that got no answer: each is registered once, no gaps.
    for id in &ids {
        let r = client
            .post(format!("{base}/api/v1/instances/{id}/submit"))
            .send()
            .await
            .unwrap();
        assert!(r.status() == 200 || r.status() == 201, "{}", r.status());
    }
    sigterm(&server);
    server.wait().unwrap();

    // Mail: two workers deliver everything; each message exactly once.
    let mut workers: Vec<Child> = (0..2)
        .map(|_| {
            sportello(&env, &["worker"])
                .spawn()
                .expect("start sportello worker")
        })
        .collect();
    let got = smtp.wait_for(200, 90).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for w in &workers {
        sigterm(w);
    }
    for w in &mut workers {
        w.wait().unwrap();
    }
    let all = smtp.messages();
    assert_eq!(got.len(), 200);
    assert_eq!(all.len(), 200, "duplicates were delivered");
    let ids: HashSet<&str> = all
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 200);
    let mut receipts: Vec<u32> = all
        .iter()
        .filter(|m| m["subject"].as_str().unwrap().starts_with("Ricevuta"))
        .map(|m| {
            let s = m["subject"].as_str().unwrap();
            s.split("Prot. n. ").nth(1).unwrap()[..7].parse().unwrap()
        })
        .collect();
    receipts.sort_unstable();
    assert_eq!(receipts, (1..=100).collect::<Vec<u32>>());
}
