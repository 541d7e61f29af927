#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The dashboard in a real browser: Debian's chromium driven through chromium-driver
//! (WebDriver) against `asyncz serve` (the built binary) on SQLite, with a live cluster node in
//! the test process running the tasks. Logs in, sees a task, runs it and watches the node's run
//! appear without a reload, pauses and resumes, edits the schedule, logs out; saves a
//! screenshot of each page under `target/tmp/browser-artifacts/`. Each step's time since the
//! start is printed (`--nocapture`), to see where a slow run spends it.
//!
//! Without chromedriver on the PATH the test says so and passes, unless
//! `ASYNCZ_REQUIRE_BROWSER=1` (CI sets it, after installing chromium and chromium-driver).

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use asyncz::{CallContext, IntervalTrigger, Scheduler, TaskBuilder};
use common::{fast_node, Backend, Served};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const TOKEN: &str = "browser-admin-token";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

async fn start_driver() -> Option<(Driver, u16)> {
    let Some(driver) = find_program("chromedriver") else {
        assert!(
            std::env::var("ASYNCZ_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "ASYNCZ_REQUIRE_BROWSER=1 but chromedriver is not on the PATH (apt install chromium chromium-driver)"
        );
        eprintln!("skipping the browser test: chromedriver is not on the PATH (apt install chromium chromium-driver)");
        return None;
    };
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some((driver, port));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not listen on port {port}");
}

async fn browser(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
    });
    if let Some(chromium) = find_program("chromium") {
        options["binary"] = json!(chromium.display().to_string());
    }
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a browser session")
}

/// The node that runs the tasks, over the store `asyncz serve` serves.
async fn node(backend: &Backend) -> Scheduler {
    let scheduler = backend.scheduler(Some(fast_node("browser-node")));
    scheduler
        .register("report", |_ctx: CallContext| {})
        .unwrap();
    scheduler.start().await.unwrap();
    for (id, name) in [("report", "Sales report"), ("cleanup", "Clean temp files")] {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id(id)
                    .name(name)
                    .function("report")
                    .trigger(IntervalTrigger::new().hours(6)),
            )
            .await
            .unwrap();
    }
    scheduler
}

/// Prints how long the test has run at each step.
struct Steps(Instant);

impl Steps {
    fn at(&self, step: &str) {
        println!("[{:>7.2?}] {step}", self.0.elapsed());
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(artifacts().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the page source contains `text` (after a navigation or a live update).
async fn wait_for_text(client: &Client, text: &str, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let source = client.source().await.unwrap();
        if source.contains(text) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page never showed {text:?}; it shows:\n{source}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click_button(client: &Client, label: &str) {
    let xpath = format!("//button[normalize-space(.)='{label}']");
    client
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no button {label:?}: {e}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_session_in_a_real_browser() {
    let Some((_driver, driver_port)) = start_driver().await else {
        return;
    };
    let steps = Steps(Instant::now());
    let backend = Backend::sqlite();
    let scheduler = node(&backend).await;
    let served = Served::start(&backend, TOKEN, &[]);
    let base = format!("http://{}", served.addr);
    steps.at("node and asyncz serve up");

    let client = browser(driver_port).await;
    steps.at("browser session");
    client.goto(&base).await.unwrap();
    assert!(client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/login"));
    shot(&client, "01-login").await;
    client
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    click_button(&client, "Log in").await;
    wait_for_text(&client, "<h1>Overview</h1>", Duration::from_secs(10)).await;
    shot(&client, "02-overview").await;
    steps.at("logged in");

    client.goto(&format!("{base}/tasks")).await.unwrap();
    wait_for_text(&client, "Sales report", Duration::from_secs(5)).await;
    shot(&client, "03-tasks").await;
    client
        .find(Locator::LinkText("Sales report"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "Next 10 fire times", Duration::from_secs(5)).await;
    assert!(client.source().await.unwrap().contains("No runs recorded"));

    steps.at("task detail");
    // Run now: a run request the node takes; its outcome arrives on the open page without a
    // reload.
    click_button(&client, "Run now").await;
    wait_for_text(&client, "Run started", Duration::from_secs(5)).await;
    client
        .execute("window.__asyncz_same_page = 'yes';", vec![])
        .await
        .unwrap();
    wait_for_text(&client, "run succeeded", Duration::from_secs(15)).await;
    let same = client
        .execute("return window.__asyncz_same_page || 'reloaded';", vec![])
        .await
        .unwrap();
    assert_eq!(
        same,
        json!("yes"),
        "the run appeared by a live update, not a reload"
    );
    shot(&client, "04-task-detail").await;
    steps.at("ran it");

    click_button(&client, "Pause").await;
    wait_for_text(&client, "Paused.", Duration::from_secs(5)).await;
    assert!(
        scheduler
            .get_task_info("report", None)
            .await
            .unwrap()
            .unwrap()
            .paused
    );
    click_button(&client, "Resume").await;
    wait_for_text(&client, "Resumed.", Duration::from_secs(5)).await;
    assert!(
        !scheduler
            .get_task_info("report", None)
            .await
            .unwrap()
            .unwrap()
            .paused
    );

    steps.at("paused and resumed");
    // Edit the schedule.
    let kind = client
        .find(Locator::Css("select[name=kind]"))
        .await
        .unwrap();
    kind.select_by_value("cron").await.unwrap();
    steps.at("cron selected");
    client
        .find(Locator::Css("input[name=value]"))
        .await
        .unwrap()
        .send_keys("*/5 * * * *")
        .await
        .unwrap();
    steps.at("expression typed");
    click_button(&client, "Save schedule").await;
    steps.at("save clicked");
    wait_for_text(&client, "Schedule saved.", Duration::from_secs(5)).await;
    let info = scheduler
        .get_task_info("report", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.trigger_alias, "cron", "{info:?}");

    for (path, name, text) in [
        ("/history", "05-history", "<h1>History</h1>"),
        ("/nodes", "06-nodes", "browser-node"),
        ("/timeline", "07-timeline", "<h1>Timeline</h1>"),
    ] {
        client.goto(&format!("{base}{path}")).await.unwrap();
        steps.at(path);
        wait_for_text(&client, text, Duration::from_secs(5)).await;
        shot(&client, name).await;
    }
    steps.at("schedule edited, pages shot");
    // Phone width.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&format!("{base}/tasks")).await.unwrap();
    wait_for_text(&client, "Sales report", Duration::from_secs(5)).await;
    shot(&client, "08-tasks-phone").await;
    client.set_window_size(1280, 900).await.unwrap();
    // A fresh page at the new width, so the click lands on a laid-out button.
    client.goto(&base).await.unwrap();
    wait_for_text(&client, "<h1>Overview</h1>", Duration::from_secs(10)).await;

    click_button(&client, "Log out").await;
    wait_for_text(&client, "Logged out.", Duration::from_secs(10)).await;
    client.goto(&format!("{base}/tasks")).await.unwrap();
    assert!(client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/login"));

    steps.at("logged out");
    client.close().await.unwrap();
    steps.at("browser closed");
    let (code, _) = served.terminate();
    assert_eq!(code, Some(0));
    scheduler.shutdown(true).await.unwrap();
    steps.at("done");
}
