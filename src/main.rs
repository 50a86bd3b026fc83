//! The `orgledger` command line: parses arguments and calls the library.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use orgledger::commands::report::{AsOf, Format, ReportKind};
use orgledger::commands::{self, audit, serve, CommandError};
use orgledger::tokens::Role;

#[derive(Parser)]
#[command(
    name = "orgledger",
    version,
    about = "A hash-chained, event-sourced ledger of a party organization"
)]
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
    /// Verify the whole chain of the store, or of an export file with --file; with
    /// --checkpoint and --key, also that it holds the history the checkpoint signed.
    Verify {
        #[arg(long)]
        file: Option<PathBuf>,
        /// A signed checkpoint (C2SP tlog-checkpoint) the log must be consistent with.
        #[arg(long, requires = "key")]
        checkpoint: Option<PathBuf>,
        /// The verifier key of the checkpoint (`name+id+base64`), in a file.
        #[arg(long, requires = "checkpoint")]
        key: Option<PathBuf>,
    },
    /// Print an inclusion or consistency proof as JSON.
    Proof {
        #[command(subcommand)]
        proof: ProofCommand,
    },
    /// Check a proof file against its own roots, or against a signed checkpoint.
    VerifyProof {
        file: PathBuf,
        #[arg(long, requires = "key")]
        checkpoint: Option<PathBuf>,
        /// The verifier key of the checkpoint, in a file.
        #[arg(long, requires = "checkpoint")]
        key: Option<PathBuf>,
    },
    /// Print a fresh signed checkpoint of the head (tree size, root, projection commitment).
    Checkpoint {
        /// The signing key file; default DATA/checkpoint.key, created on first use.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The name of a key created now (the checkpoints' origin line).
        #[arg(long)]
        origin: Option<String>,
    },
    /// The ledger's signing key.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Write every record as JSON Lines, in seq order.
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify an export file and load it into an empty store.
    Import { file: PathBuf },
    /// Print a report of the projection, as of a date and a seq.
    Report {
        #[command(subcommand)]
        report: ReportCommand,
    },
    /// List events for a person to read.
    Log {
        #[arg(long, default_value_t = 1)]
        from: u64,
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Write the Trùng Khánh demo ledger (2005-2015) into an empty or missing data directory.
    Demo,
    /// Serve GraphQL over HTTP until SIGTERM or Ctrl-C.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Fill an empty data directory with the demo ledger first, and print a clerk token.
        #[arg(long)]
        demo: bool,
        /// Serve queries and subscriptions without a token (never mutations).
        #[arg(long)]
        public_read: bool,
    },
    /// Manage the bearer tokens of the server.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Write a synthetic province-scale ledger of N events (1990-2025) into an empty or
    /// missing data directory, for benchmarks; the same N and seed give the same head.
    Generate {
        #[arg(long)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum ProofCommand {
    /// Event SEQ is in the tree of SIZE events (default: the head).
    Inclusion {
        #[arg(long)]
        seq: u64,
        #[arg(long)]
        size: Option<u64>,
    },
    /// The tree of FROM events is a prefix of the tree of TO events (default: the head).
    Consistency {
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: Option<u64>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Print the verifier key in the signed-note form `name+id+base64`.
    Public {
        /// The signing key file; default DATA/checkpoint.key, created on first use.
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long)]
        origin: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Add a token and print it, alone, on stdout: the only time it is shown.
    Add {
        /// The token's name: the actor recorded on what it appends (a-z, 0-9, '-').
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: Role,
    },
    /// List the tokens: name, role, creation time.
    List,
    /// Revoke a token: it stops working at once, on a running server too.
    Revoke { name: String },
}

/// The point a report is asked at, and how it is printed; shared by every report.
#[derive(Args)]
struct ReportOptions {
    /// Valid time: the organization as of this date (YYYY-MM-DD); default today (UTC).
    #[arg(long)]
    date: Option<String>,
    /// Transaction time: the ledger as it stood after this seq; default the head.
    #[arg(long)]
    seq: Option<u64>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    format: OutputFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Json,
    Table,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Hamlets and residential groups with a resident member and with a cell, per commune.
    Coverage {
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Members on temporary activity per host cell, and their home organizations.
    TemporaryActivity {
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Admissions per calendar year, by commune and sex.
    Admissions {
        #[arg(long)]
        from_year: Option<i32>,
        #[arg(long)]
        to_year: Option<i32>,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Cadres below standard, standardized and retired under policy under a programme.
    Standardization {
        #[arg(long)]
        programme: String,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Cell meetings, and those of weak cells with the committee member in charge present.
    Meetings {
        #[arg(long)]
        year: Option<i32>,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Cell resolutions by topic, per cell and in all.
    Resolutions {
        #[command(flatten)]
        options: ReportOptions,
    },
    /// The cadre plan of a term, with the shares of women and of young cadres.
    Planning {
        #[arg(long)]
        term: String,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// The members of an organization, with their status.
    Roster {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Every event that named a locality, organization, member or cadre.
    History {
        #[arg(long)]
        entity: String,
        #[command(flatten)]
        options: ReportOptions,
    },
}

impl ReportCommand {
    fn into_parts(self) -> (ReportKind, ReportOptions) {
        match self {
            ReportCommand::Coverage { options } => (ReportKind::Coverage, options),
            ReportCommand::TemporaryActivity { options } => (ReportKind::TemporaryActivity, options),
            ReportCommand::Admissions {
                from_year,
                to_year,
                options,
            } => (ReportKind::Admissions { from_year, to_year }, options),
            ReportCommand::Standardization { programme, options } => {
                (ReportKind::Standardization { programme }, options)
            }
            ReportCommand::Meetings { year, options } => (ReportKind::Meetings { year }, options),
            ReportCommand::Resolutions { options } => (ReportKind::Resolutions, options),
            ReportCommand::Planning { term, options } => (ReportKind::Planning { term }, options),
            ReportCommand::Roster { org, options } => (ReportKind::Roster { org }, options),
            ReportCommand::History { entity, options } => (ReportKind::History { entity }, options),
        }
    }
}

fn run(cli: Cli) -> Result<(), CommandError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.command {
        Command::Append {
            file,
            expect_seq,
            actor,
        } => match file {
            Some(path) if path.is_dir() => Err(CommandError::Failed(format!(
                "{}: is a directory, not a file of events",
                path.display()
            ))),
            Some(path) if path.as_os_str() != "-" => {
                let f =
                    std::fs::File::open(&path).map_err(|e| CommandError::Failed(format!("{}: {e}", path.display())))?;
                commands::append(&cli.data, BufReader::new(f), expect_seq, &actor, &mut out)
            }
            _ => commands::append(&cli.data, std::io::stdin().lock(), expect_seq, &actor, &mut out),
        },
        Command::Verify {
            file,
            checkpoint: Some(cp),
            key: Some(key),
        } => match file {
            Some(file) => audit::verify_file_against(&file, &cp, &key, &mut out),
            None => audit::verify_store_against(&cli.data, &cp, &key, &mut out),
        },
        Command::Verify { file: Some(file), .. } => commands::verify_file(&file, &mut out),
        Command::Verify { file: None, .. } => commands::verify_store(&cli.data, &mut out),
        Command::Proof {
            proof: ProofCommand::Inclusion { seq, size },
        } => audit::proof_inclusion(&cli.data, seq, size, &mut out),
        Command::Proof {
            proof: ProofCommand::Consistency { from, to },
        } => audit::proof_consistency(&cli.data, from, to, &mut out),
        Command::VerifyProof { file, checkpoint, key } => {
            audit::verify_proof(&file, checkpoint.as_deref().zip(key.as_deref()), &mut out)
        }
        Command::Checkpoint { key, origin } => {
            audit::checkpoint(&cli.data, key.as_deref(), origin.as_deref(), &mut out)
        }
        Command::Key {
            command: KeyCommand::Public { key, origin },
        } => audit::key_public(&cli.data, key.as_deref(), origin.as_deref(), &mut out),
        Command::Export { out: Some(path) } => commands::export_file(&cli.data, &path).map(|_| ()),
        Command::Export { out: None } => commands::export(&cli.data, &mut std::io::BufWriter::new(out)).map(|_| ()),
        Command::Import { file } => commands::import(&cli.data, &file, &mut out),
        Command::Report { report } => {
            let (kind, options) = report.into_parts();
            let as_of = AsOf {
                date: options.date,
                seq: options.seq,
            };
            let format = match options.format {
                OutputFormat::Json => Format::Json,
                OutputFormat::Table => Format::Table,
            };
            commands::report::report(&cli.data, &kind, &as_of, format, &mut out)
        }
        Command::Log { from, limit } => commands::log(&cli.data, from, limit, &mut out),
        Command::Demo => commands::demo(&cli.data, &mut out),
        Command::Generate { events, seed } => commands::generate(&cli.data, events, seed, &mut out),
        Command::Serve {
            listen,
            demo,
            public_read,
        } => serve::serve(
            &cli.data,
            serve::ServeOptions {
                listen,
                demo,
                public_read,
            },
            &mut out,
        ),
        Command::Token { command } => match command {
            TokenCommand::Add { name, role } => serve::token_add(&cli.data, &name, role, &mut out),
            TokenCommand::List => serve::token_list(&cli.data, &mut out),
            TokenCommand::Revoke { name } => serve::token_revoke(&cli.data, &name, &mut out),
        },
        Command::Schema => serve::schema(&mut out),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) | Err(CommandError::OutputClosed) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
