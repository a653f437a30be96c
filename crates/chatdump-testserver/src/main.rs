//! `chatdump-testserver`: runs the local stand-in for the Chat Replay API, so `chatdump fetch`
//! and `chatdump export` can be tried without an account.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "a program: it prints its address and reads the real clock to sign and expire links"
)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use chatdump_testserver::{Config, Scenario};

const USAGE: &str = "\
usage: chatdump-testserver [--addr 127.0.0.1:8787] [--link-ttl SECONDS] [--messages N]

Serves the Dyte and RealtimeKit chat routes and a storage for their download links on ADDR.
Credentials it accepts: DYTE_ORG_ID=demo-org DYTE_API_KEY=demo-key (dyte), or
CLOUDFLARE_ACCOUNT_ID=demo-account REALTIMEKIT_APP_ID=demo-app CLOUDFLARE_API_TOKEN=demo-token
(realtimekit). The part of a session id before `--` picks a fault to inject; any other id is
served normally. Its links point at ADDR, a loopback address: pass chatdump
`--allow-private-download-host ADDR` to download from it.";

fn main() -> ExitCode {
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8787));
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        let ok = match arg.as_str() {
            "--addr" => value().parse().map(|parsed| addr = parsed).is_ok(),
            "--link-ttl" => value()
                .parse()
                .map(|seconds| config.link_ttl = Duration::from_secs(seconds))
                .is_ok(),
            "--messages" => value().parse().map(|count| config.messages = count).is_ok(),
            "-h" | "--help" => {
                println!("{USAGE}\n\nscenarios: {}", scenario_names());
                return ExitCode::SUCCESS;
            }
            _ => false,
        };
        if !ok {
            eprintln!("error: bad argument `{arg}`\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("error: cannot listen on `{addr}`: {error}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!(
            "chatdump-testserver listening on http://{addr}\n\
             try:\n  DYTE_ORG_ID=demo-org DYTE_API_KEY=demo-key chatdump export --base-url http://{addr}/v2 --allow-private-download-host {addr} --session-id demo --format jsonl --output out/\n\
             scenarios (session id prefix): {}",
            scenario_names()
        );
        tokio::select! {
            result = chatdump_testserver::serve(listener, config) => match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            },
            _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        }
    })
}

fn scenario_names() -> String {
    Scenario::ALL
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}
