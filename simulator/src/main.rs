//! `cairn-sim`: run scenarios of Cairn's mesh and compare routings.

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_sim::metrics::{OverSeeds, Spread};
use cairn_sim::{Metrics, Progress, Routing, Scenario, World, plot};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// Simulates Cairn's store-and-forward mesh with the real protocol cores.
#[derive(Parser)]
#[command(name = "cairn-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and print its metrics.
    Run {
        #[command(flatten)]
        common: Common,
        /// Routing: cairn, epidemic, direct or prophet.
        #[arg(long, default_value = "cairn")]
        routing: String,
    },
    /// Run Cairn's routing, epidemic flooding, direct delivery and PRoPHET
    /// on the same seed and print one table.
    Compare {
        #[command(flatten)]
        common: Common,
    },
    /// Measure what flooders cost honest delivery: the scenario's `[attack]`
    /// (5 % of the people by default) run once as quiet relays and once
    /// flooding, same seed, Cairn's routing; prints both and the difference.
    Attack {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
struct Common {
    /// Scenario file (TOML), e.g. simulator/scenarios/shutdown-square.toml.
    file: PathBuf,
    /// Seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Run every routing on this many seeds (the first seed and the ones
    /// after it) and print each measure's mean, spread and range, and each
    /// routing against flooding seed by seed.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    seeds: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Leave out wall-clock time and memory, so identical runs print
    /// identical bytes.
    #[arg(long)]
    no_timing: bool,
    /// Write PNG plots (delivery over time, latency CDF) into this directory.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Print a progress line to stderr every virtual minute (a bar is drawn
    /// anyway when stderr is a terminal).
    #[arg(long)]
    progress: bool,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    if let Command::Attack { common } = cli.command {
        return attack(common);
    }
    let (common, routings) = match cli.command {
        Command::Attack { .. } => unreachable!("handled above"),
        Command::Run { common, routing } => {
            let r = Routing::parse(&routing).ok_or_else(|| {
                format!("unknown routing {routing:?} (cairn, epidemic, direct, prophet)")
            })?;
            (common, vec![r])
        }
        Command::Compare { common } => (
            common,
            vec![
                Routing::Cairn,
                Routing::Epidemic,
                Routing::Direct,
                Routing::Prophet,
            ],
        ),
    };
    let Common {
        file,
        seed,
        seeds,
        json,
        no_timing,
        plot: plot_dir,
        progress: lines,
    } = common;
    let scenario = Scenario::load(&file)?;
    let seed = seed.unwrap_or(scenario.seed);
    if seeds > 1 {
        if plot_dir.is_some() {
            return Err("--plot draws one run: leave out --seeds, or pick one with --seed".into());
        }
        return over_seeds(&scenario, &routings, seed, seeds, json, no_timing, lines);
    }
    let mut results: Vec<Metrics> = Vec::new();
    let last = routings.len().saturating_sub(1);
    for (n, routing) in routings.into_iter().enumerate() {
        let (m, world) = run_one(&scenario, routing, seed, !json, no_timing, lines);
        results.push(m);
        if n == last {
            // Freeing tens of thousands of stores one allocation at a time
            // took longer than a minute at 10k nodes; the process is about to
            // exit and the OS takes it all back at once.
            std::mem::forget(world);
        }
    }
    if let Some(dir) = plot_dir {
        plot::write(&dir, &results, scenario.duration_s as f64)?;
    }
    if json {
        let out = if results.len() == 1 {
            serde_json::to_string_pretty(&results[0])?
        } else {
            serde_json::to_string_pretty(&results)?
        };
        println!("{out}");
    } else {
        print_table(&results);
    }
    Ok(())
}

/// One routing on one seed.
fn run_one(
    scenario: &Scenario,
    routing: Routing,
    seed: u64,
    say: bool,
    no_timing: bool,
    lines: bool,
) -> (Metrics, World) {
    if say {
        eprintln!(
            "running {} with {} routing, seed {seed}…",
            scenario.name,
            routing.name()
        );
    }
    let mut world = World::new(scenario.clone(), routing, seed);
    world.on_progress(reporter(routing, scenario.duration_s, lines));
    let m = world.run();
    (if no_timing { m.without_timing() } else { m }, world)
}

/// Every routing on `count` seeds from `first`, summarised per routing.
fn over_seeds(
    scenario: &Scenario,
    routings: &[Routing],
    first: u64,
    count: u64,
    json: bool,
    no_timing: bool,
    lines: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut runs: Vec<Vec<Metrics>> = vec![Vec::new(); routings.len()];
    for seed in (0..count).map(|n| first.wrapping_add(n)) {
        for (n, &routing) in routings.iter().enumerate() {
            let (m, world) = run_one(scenario, routing, seed, !json, no_timing, lines);
            runs[n].push(m);
            drop(world);
        }
    }
    let flooding = routings
        .iter()
        .position(|&r| r == Routing::Epidemic)
        .map(|i| runs[i].clone());
    let summaries: Vec<OverSeeds> = routings
        .iter()
        .zip(runs)
        .map(|(&routing, runs)| {
            let base = (routing != Routing::Epidemic)
                .then_some(flooding.as_deref())
                .flatten();
            OverSeeds::of(runs, base)
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
        return Ok(());
    }
    println!(
        "{} over {count} seeds ({first}–{}): mean ± sd [min–max]",
        scenario.name,
        first.wrapping_add(count - 1)
    );
    let cell = |s: &Spread, digits: usize| {
        format!(
            "{:.d$} ± {:.d$} [{:.d$}–{:.d$}]",
            s.mean,
            s.sd,
            s.min,
            s.max,
            d = digits
        )
    };
    println!(
        "{:<10} {:>32} {:>24} {:>24} {:>26}",
        "routing", "delivery", "p50 s", "p95 s", "tx/delivered"
    );
    for s in &summaries {
        println!(
            "{:<10} {:>32} {:>24} {:>24} {:>26}",
            s.routing,
            cell(&s.delivery_ratio, 4),
            cell(&s.latency_p50_s, 1),
            cell(&s.latency_p95_s, 1),
            cell(&s.transmissions_per_delivered, 2),
        );
    }
    for s in &summaries {
        if let (Some(d), Some(t)) = (&s.delivery_vs_flooding, &s.transmissions_vs_flooding) {
            println!(
                "{} against flooding, seed by seed: delivery {} ×, transmissions {} ×",
                s.routing,
                cell(d, 3),
                cell(t, 3)
            );
        }
    }
    Ok(())
}

fn attack(common: Common) -> Result<(), Box<dyn std::error::Error>> {
    if common.seeds > 1 {
        return Err("attack runs one seed: leave out --seeds, or pick one with --seed".into());
    }
    let mut scenario = Scenario::load(&common.file)?;
    let seed = common.seed.unwrap_or(scenario.seed);
    let attack = scenario.attack.clone().unwrap_or_default();
    let mut results = Vec::new();
    for flood in [false, true] {
        scenario.attack = Some(cairn_sim::scenario::Attack {
            flood,
            ..attack.clone()
        });
        let label = if flood { "flooding" } else { "quiet" };
        if !common.json {
            eprintln!(
                "running {} with {:.0} % attackers {label}, seed {seed}…",
                scenario.name,
                attack.fraction * 100.0
            );
        }
        let mut world = World::new(scenario.clone(), Routing::Cairn, seed);
        world.on_progress(reporter(
            Routing::Cairn,
            scenario.duration_s,
            common.progress,
        ));
        let mut m = world.run();
        std::mem::forget(world);
        if common.no_timing {
            m = m.without_timing();
        }
        m.routing = format!("cairn/{label}");
        results.push(m);
    }
    let cost_pp = (results[0].delivery_ratio - results[1].delivery_ratio) * 100.0;
    if common.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "quiet": results[0],
                "flooding": results[1],
                "cost_percentage_points": (cost_pp * 100.0).round() / 100.0,
            }))?
        );
    } else {
        print_table(&results);
        println!("honest delivery lost to the flood: {cost_pp:.2} percentage points");
    }
    Ok(())
}

/// Shows how far a run is: a bar on a terminal, or plain lines with `--progress`.
fn reporter(routing: Routing, duration_s: u64, lines: bool) -> impl FnMut(Progress) {
    let bar = ProgressBar::new(duration_s);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>9} [{bar:30}] {pos}/{len} virtual s  {msg}  ({elapsed})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(routing.name());
    let started = std::time::Instant::now();
    move |p: Progress| {
        let msg = format!("{} events, {}/{} delivered", p.events, p.delivered, p.sent);
        if lines {
            eprintln!(
                "{:>9} t={:>6}/{} s  {msg}  wall {:.0} s",
                routing.name(),
                p.virtual_s,
                p.duration_s,
                started.elapsed().as_secs_f64()
            );
        }
        bar.set_position(p.virtual_s);
        bar.set_message(msg);
        if p.virtual_s + 60 > p.duration_s {
            bar.finish_and_clear();
        }
    }
}

fn print_table(results: &[Metrics]) {
    println!(
        "{:<10} {:>6} {:>8} {:>9} {:>9} {:>9} {:>13} {:>14} {:>14} {:>10} {:>8}",
        "routing",
        "nodes",
        "messages",
        "delivery",
        "p50 s",
        "p95 s",
        "tx/delivered",
        "bytes/deliv.",
        "max store B",
        "events",
        "wall s"
    );
    for m in results {
        println!(
            "{:<10} {:>6} {:>8} {:>9.4} {:>9.1} {:>9.1} {:>13.2} {:>14.0} {:>14} {:>10} {:>8}",
            m.routing,
            m.nodes,
            m.messages,
            m.delivery_ratio,
            m.latency_p50_s,
            m.latency_p95_s,
            m.transmissions_per_delivered,
            m.bytes_per_delivered,
            m.max_node_store_bytes,
            m.events,
            m.wall_s.map_or("-".into(), |w| format!("{w:.1}")),
        );
    }
}
