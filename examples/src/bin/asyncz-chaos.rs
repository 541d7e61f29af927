//! `asyncz-chaos --backend B [--backend B2 ...] [--nodes N] [--seconds S] [--seed X]
//! [--lease-ms L]`: the cluster chaos test against real servers (see
//! `asyncz_examples::chaos`), one table row per backend; exits 1 when any backend lost,
//! duplicated or ran a fire under a stale claim. `cargo xtask chaos` runs it.

use std::process::ExitCode;
use std::time::Duration;

use asyncz_examples::chaos::{self, ChaosConfig, ChaosReport};

const USAGE: &str = "usage: asyncz-chaos --backend sqlite|postgres|mysql|redis|mongo [--backend ...] [--nodes N] [--seconds S] [--seed X] [--lease-ms L]";

fn parse(args: &[String]) -> Result<(Vec<String>, usize, u64, u64, u64), String> {
    let mut backends = Vec::new();
    let (mut nodes, mut seconds, mut seed, mut lease_ms) = (3usize, 20u64, 0u64, 2000u64);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let number = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|e| format!("{name} {v:?}: {e}\n{USAGE}"))
        };
        match flag.as_str() {
            "--backend" => backends.push(value("--backend")?),
            "--nodes" => nodes = number("--nodes", value("--nodes")?)? as usize,
            "--seconds" => seconds = number("--seconds", value("--seconds")?)?,
            "--seed" => seed = number("--seed", value("--seed")?)?,
            "--lease-ms" => lease_ms = number("--lease-ms", value("--lease-ms")?)?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if backends.is_empty() {
        return Err(format!("name at least one --backend\n{USAGE}"));
    }
    if nodes == 0 || seconds == 0 {
        return Err(format!("--nodes and --seconds must be at least 1\n{USAGE}"));
    }
    if seed == 0 {
        seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
    }
    Ok((backends, nodes, seconds, seed, lease_ms))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (backends, nodes, seconds, seed, lease_ms) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let root = std::env::temp_dir().join(format!("asyncz-chaos-{}", std::process::id()));
    let mut reports = Vec::new();
    let mut ok = true;
    for name in &backends {
        let dir = root.join(name);
        let (store, cut) = match chaos::backend(name, "asyncz_chaos", &dir) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        let config = ChaosConfig {
            backend: name.clone(),
            store,
            cut,
            nodes,
            seconds,
            second_tasks: 5,
            fast_tasks: 2,
            lease: Duration::from_millis(lease_ms),
            heartbeat: Duration::from_millis(lease_ms / 4),
            node_timeout: Duration::from_millis(lease_ms),
            poll: Duration::from_millis(200),
            seed,
            node_binary: chaos::node_binary(),
            dir,
        };
        eprintln!("chaos: {name}, {nodes} nodes, {seconds} s, seed {seed}");
        match chaos::run(&config).await {
            Ok(report) => {
                let passed = report.passed(&config, Duration::from_secs(1));
                ok &= passed;
                for p in &report.problems {
                    eprintln!("  {name}: {p}");
                }
                reports.push(report);
            }
            Err(e) => {
                eprintln!("chaos: {name}: {e}");
                ok = false;
            }
        }
    }
    println!("{}", ChaosReport::HEADER);
    for r in &reports {
        println!("{}", r.row());
    }
    println!("seed {seed}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
