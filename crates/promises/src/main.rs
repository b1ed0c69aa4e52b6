//! `scripts/promises.sh` runs this: it prints the promise map, writes `docs/promises.md`, or
//! checks it, always through the library the drift test uses.

use std::process::ExitCode;
use std::{env, fs};

use relais_promises::{PAGE, PROMISES, check, render, repo_root, scan, tests_of, unknown_ids};

const USAGE: &str = "usage: relais-promises [--write | --check]
  (no option)  print each promise ID with its tests and how many files cite it
  --write      regenerate docs/promises.md
  --check      fail if docs/promises.md is stale or the tree uses an ID that is not a promise";

fn main() -> ExitCode {
    let root = repo_root();
    let option = env::args().nth(1);
    let result = match option.as_deref() {
        None => list(),
        Some("--write") => write(),
        Some("--check") => check(&root),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown option {other}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("{problem}");
            ExitCode::FAILURE
        }
    }
}

fn list() -> Result<(), String> {
    let scan = scan(&repo_root()).map_err(|e| e.to_string())?;
    for p in PROMISES {
        let tests: Vec<_> = tests_of(&scan, p.id).iter().map(|t| t.name.as_str()).collect();
        let mut files: Vec<_> = scan.citations.iter().filter(|c| c.id == p.id).map(|c| &c.path).collect();
        files.dedup();
        let tests = if tests.is_empty() { "—".to_owned() } else { tests.join(" ") };
        println!("{}\t{tests}\t(citing files: {})", p.id, files.len());
    }
    Ok(())
}

fn write() -> Result<(), String> {
    let root = repo_root();
    let scan = scan(&root).map_err(|e| e.to_string())?;
    fs::write(root.join(PAGE), render(&scan)).map_err(|e| format!("writing {PAGE}: {e}"))?;
    eprintln!("wrote {PAGE}");
    // The page is written anyway, so that it can be read; the unknown IDs still fail the run,
    // since the drift test would fail on them.
    let unknown = unknown_ids(&scan);
    if unknown.is_empty() { Ok(()) } else { Err(format!("IDs that are not promises:\n  {}", unknown.join("\n  "))) }
}
