//! The `orgledger` command line: parses arguments and calls the library.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orgledger::commands::{self, CommandError};

#[derive(Parser)]
#[command(name = "orgledger", version, about = "A hash-chained, event-sourced ledger of a party organization")]
struct Cli {
    /// The ledger's data directory.
    #[arg(long, global = true, env = "ORGLEDGER_DATA", default_value = "./orgledger-data")]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Append events from JSON Lines (FILE, or stdin when absent or `-`) as one atomic batch.
    Append {
        file: Option<PathBuf>,
        /// Refuse the batch unless the head is at this seq.
        #[arg(long)]
        expect_seq: Option<u64>,
        /// The actor recorded on each event.
        #[arg(long, env = "ORGLEDGER_ACTOR", default_value = "cli")]
        actor: String,
    },
    /// Verify the whole chain of the store, or of an export file with --file.
    Verify {
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Write every record as JSON Lines, in seq order.
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify an export file and load it into an empty store.
    Import { file: PathBuf },
    /// List events for a person to read.
    Log {
        #[arg(long, default_value_t = 1)]
        from: u64,
        #[arg(long)]
        limit: Option<u64>,
    },
}

fn run(cli: Cli) -> Result<(), CommandError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.command {
        Command::Append { file, expect_seq, actor } => match file {
            Some(path) if path.as_os_str() != "-" => {
                let f = std::fs::File::open(&path).map_err(|e| CommandError::Failed(format!("{}: {e}", path.display())))?;
                commands::append(&cli.data, BufReader::new(f), expect_seq, &actor, &mut out)
            }
            _ => commands::append(&cli.data, std::io::stdin().lock(), expect_seq, &actor, &mut out),
        },
        Command::Verify { file: Some(file) } => commands::verify_file(&file, &mut out),
        Command::Verify { file: None } => commands::verify_store(&cli.data, &mut out),
        Command::Export { out: Some(path) } => {
            let tmp = path.with_extension("partial");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            commands::export(&cli.data, &mut f)?;
            f.into_inner().map_err(|e| CommandError::Failed(e.to_string()))?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        }
        Command::Export { out: None } => commands::export(&cli.data, &mut std::io::BufWriter::new(out)).map(|_| ()),
        Command::Import { file } => commands::import(&cli.data, &file, &mut out),
        Command::Log { from, limit } => commands::log(&cli.data, from, limit, &mut out),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
