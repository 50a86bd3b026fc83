//! The `orgledger` command line: parses arguments and calls the library.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use orgledger::commands::report::{AsOf, Format, ReportKind};
use orgledger::commands::{self, audit, serve, CommandError};
use orgledger::tokens::Role;

/// The allocator. Every path of this program (copying, checking and folding records, sled's
/// pages, GraphQL answers) makes and drops many small values, and glibc's malloc and free were
/// a fifth of a follower's profile; mimalloc serves the same work in less time (BENCHMARKS.md,
/// "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "orgledger",
    version,
    about = "A hash-chained, event-sourced ledger of a party organization"
)]
struct Cli {
    /// The ledger's data directory, for the commands that use one (they also take it
    /// after their name); default $ORGLEDGER_DATA, else ./orgledger-data.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Show no progress on stderr (shown only when stderr is a terminal; `serve` logs its
    /// start-up work instead). Standard output is the same either way.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Append events from JSON Lines (FILE, or stdin when absent or `-`) as one atomic batch.
    Append {
        /// The JSON Lines file of events; stdin when absent or `-`.
        file: Option<PathBuf>,
        /// Refuse the batch unless the head is at this seq.
        #[arg(long)]
        expect_seq: Option<u64>,
        /// The actor recorded on each event.
        #[arg(long, env = "ORGLEDGER_ACTOR", hide_env_values = true, default_value = "cli")]
        actor: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Verify the whole chain of the store, or of an export file with --file; with
    /// --checkpoint and --key, also that it holds the history the checkpoint signed.
    Verify {
        /// Check this export file instead of the store (no store is opened).
        #[arg(long, value_name = "EXPORT", conflicts_with = "data")]
        file: Option<PathBuf>,
        /// A signed checkpoint (C2SP tlog-checkpoint) the log must be consistent with.
        #[arg(long, requires = "key")]
        checkpoint: Option<PathBuf>,
        /// The verifier key of the checkpoint (`name+id+base64`), in a file.
        #[arg(long, requires = "checkpoint")]
        key: Option<PathBuf>,
        #[command(flatten)]
        quorum: QuorumArgs,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print an inclusion or consistency proof as JSON.
    Proof {
        #[command(subcommand)]
        proof: ProofCommand,
    },
    /// Check a proof file against its own roots, or against a signed checkpoint.
    VerifyProof {
        /// The proof, as `orgledger proof` prints it (JSON).
        file: PathBuf,
        /// A signed checkpoint of the proof's tree size (either size, for a consistency proof).
        #[arg(long, requires = "key")]
        checkpoint: Option<PathBuf>,
        /// The verifier key of the checkpoint, in a file.
        #[arg(long, requires = "checkpoint")]
        key: Option<PathBuf>,
        #[command(flatten)]
        quorum: QuorumArgs,
    },
    /// Print a fresh signed checkpoint of the head (tree size, root, projection commitment).
    Checkpoint {
        /// The signing key file; default DATA/checkpoint.key, created on first use.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The name of a key created now (the checkpoints' origin line).
        #[arg(long)]
        origin: Option<String>,
        /// A witness to ask for a cosignature (C2SP tlog-witness): its URL prefix and the file
        /// of its verifier key (type 0x04), as `URL=VKEY_FILE`; repeat for each witness.
        #[arg(long = "witness", value_name = "URL=VKEY_FILE")]
        witnesses: Vec<String>,
        /// How many witnesses must cosign; default all of them.
        #[arg(long, requires = "witnesses")]
        quorum: Option<usize>,
        /// The CA certificates (PEM) the witnesses' HTTPS is checked against, in place of the
        /// system's roots.
        #[arg(long, value_name = "FILE", requires = "witnesses")]
        ca: Option<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
    /// The ledger's signing key.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Write every record as JSON Lines, in seq order.
    Export {
        /// Write to this file (through FILE.partial, synced, then renamed) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Verify an export file and load it into an empty store.
    Import {
        /// The export file (JSON Lines, as `orgledger export` writes it).
        file: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print a report of the projection, as of a date and a seq.
    Report {
        #[command(subcommand)]
        report: ReportCommand,
    },
    /// List events for a person to read.
    Log {
        /// The first seq to list.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// List at most this many events; default all from --from on.
        #[arg(long)]
        limit: Option<u64>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Write the Trùng Khánh demo ledger (2005-2015) into a data directory that holds no
    /// ledger.
    Demo {
        #[command(flatten)]
        data: DataDir,
    },
    /// Serve GraphQL over HTTP until SIGTERM or Ctrl-C.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Fill an empty data directory with the demo ledger first, and print a clerk token and the dashboard's link with a reader token.
        #[arg(long)]
        demo: bool,
        /// Serve queries and subscriptions without a token (never mutations).
        #[arg(long)]
        public_read: bool,
        /// A witness to ask to cosign each checkpoint (C2SP tlog-witness), as `URL=VKEY_FILE`;
        /// repeat for each. `GET /checkpoint` then serves the latest cosigned one.
        #[arg(long = "witness", value_name = "URL=VKEY_FILE")]
        witnesses: Vec<String>,
        /// How many witnesses must cosign a checkpoint for it to be published; default all.
        #[arg(long, requires = "witnesses")]
        quorum: Option<usize>,
        /// The least time between two published checkpoints, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
        checkpoint_interval: f64,
        /// Serve HTTPS and WSS with this certificate chain (PEM), read again when it changes.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve plain HTTP on an address that is not loopback (refused otherwise): every
        /// token then crosses the network in the clear.
        #[arg(long, conflicts_with = "tls_cert")]
        insecure_http: bool,
        /// The CA certificates (PEM) the witnesses' HTTPS is checked against, in place of the
        /// system's roots.
        #[arg(long, value_name = "FILE", requires = "witnesses")]
        ca: Option<PathBuf>,
        #[command(flatten)]
        caches: Caches,
        #[command(flatten)]
        data: DataDir,
    },
    /// Keep a verified copy of another ledger (its leader) in the data directory: pull its
    /// log from where the copy stopped, check every record and every signed checkpoint, and
    /// stop at the first disagreement (exit 1). With --listen, serve the same GraphQL
    /// read-only from the copy.
    Follow {
        /// The leader's URL, as `orgledger serve` prints it (http://HOST:PORT/graphql).
        url: String,
        /// A token of the leader with the auditor (or admin) role.
        #[arg(long, env = "ORGLEDGER_LEADER_TOKEN", hide_env_values = true)]
        token: String,
        /// The leader's verifier key file (`orgledger key public` on the leader).
        #[arg(long, value_name = "VKEY_FILE")]
        key: PathBuf,
        /// Serve GraphQL read-only on this address while following.
        #[arg(long)]
        listen: Option<String>,
        /// Serve queries and subscriptions without a token (with --listen).
        #[arg(long, requires = "listen")]
        public_read: bool,
        /// Milliseconds between two looks at the leader once caught up.
        #[arg(long, default_value_t = 200, hide = true)]
        poll_ms: u64,
        /// Records per atomic group of the copy.
        #[arg(long, default_value_t = 4096, hide = true)]
        batch: usize,
        /// Also act as a witness of the leader (with --listen): cosign, at POST
        /// /add-checkpoint, only checkpoints whose root is that of the records verified here.
        /// FILE is a witness key (`orgledger witness init` writes DIR/witness.key).
        #[arg(long, value_name = "FILE", requires = "listen")]
        witness_key: Option<PathBuf>,
        /// The CA certificates (PEM) the leader's HTTPS is checked against, in place of the
        /// system's roots.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Serve HTTPS and WSS with this certificate chain (PEM), read again when it changes.
        #[arg(long, value_name = "FILE", requires_all = ["tls_key", "listen"])]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve plain HTTP on an address that is not loopback (refused otherwise): every
        /// token then crosses the network in the clear.
        #[arg(long, conflicts_with = "tls_cert", requires = "listen")]
        insecure_http: bool,
        #[command(flatten)]
        caches: Caches,
        #[command(flatten)]
        data: DataDir,
    },
    /// Manage the bearer tokens of the server.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print a completion script for a shell (its flags, commands, report names, formats
    /// and other values).
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the manual page orgledger(1) (roff); with --out, write it and a page for each
    /// command (orgledger-verify(1), ...) into a directory.
    Man {
        /// Write orgledger.1 and orgledger-COMMAND.1 into this directory, and print their
        /// paths, instead of printing orgledger(1).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Certificates for HTTPS.
    Tls {
        #[command(subcommand)]
        command: TlsCommand,
    },
    /// Witness other ledgers' checkpoints (C2SP tlog-witness): cosign a checkpoint only if it
    /// extends the one cosigned before.
    Witness {
        #[command(subcommand)]
        command: WitnessCommand,
    },
    /// Write a synthetic province-scale ledger of N events (1990-2025) into an empty or
    /// missing data directory, for benchmarks; the same N and seed give the same head.
    Generate {
        /// How many events the ledger holds (at least 1).
        #[arg(long)]
        events: u64,
        /// The seed of the generator: the same seed and N give the same ledger.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum ProofCommand {
    /// Event SEQ is in the tree of SIZE events (default: the head).
    Inclusion {
        /// The event to prove.
        #[arg(long)]
        seq: u64,
        /// The size of the tree it is proved in (at least SEQ); default the head.
        #[arg(long)]
        size: Option<u64>,
        #[command(flatten)]
        data: DataDir,
    },
    /// The tree of FROM events is a prefix of the tree of TO events (default: the head).
    Consistency {
        /// The size of the older tree.
        #[arg(long)]
        from: u64,
        /// The size of the newer tree (at least FROM); default the head.
        #[arg(long)]
        to: Option<u64>,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum TlsCommand {
    /// Write a certificate for a first HTTPS set-up: DIR/ca.pem (for clients' --ca),
    /// DIR/cert.pem and DIR/key.pem (mode 0600) for `serve --tls-cert --tls-key`.
    SelfSigned {
        /// A DNS name or IP address the server is reached by; repeat for each.
        #[arg(long = "host", value_name = "NAME", required = true)]
        hosts: Vec<String>,
        /// The directory to write the three files into (created if missing; nothing in it is
        /// overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Create the witness's key (DATA/witness.key, mode 0600) and print its verifier key.
    Init {
        /// The witness's name: its key's name, on each cosignature line.
        #[arg(long)]
        origin: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Serve POST /add-checkpoint until SIGTERM or Ctrl-C.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
        /// The verifier key file of a ledger to witness (its name is the ledger's origin);
        /// repeat for each ledger.
        #[arg(long = "log", value_name = "VKEY_FILE", required = true)]
        logs: Vec<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print the evidence kept of forks and failed proofs, one JSON object a line.
    Evidence {
        #[command(flatten)]
        data: DataDir,
    },
}

/// The witnesses a checkpoint must be cosigned by, for `verify` and `verify-proof`.
#[derive(Args, Clone, Default)]
struct QuorumArgs {
    /// A witness's verifier key file (type 0x04); repeat for each witness.
    #[arg(long = "witness-key", value_name = "FILE", requires = "checkpoint")]
    witness_keys: Vec<PathBuf>,
    /// How many of the witnesses must have cosigned the checkpoint; default all of them.
    #[arg(long, requires = "witness_keys", value_parser = clap::value_parser!(u64).range(1..))]
    quorum: Option<u64>,
}

impl QuorumArgs {
    fn into_quorum(self) -> Result<audit::Quorum, CommandError> {
        let n = self.witness_keys.len();
        if let Some(k) = self.quorum.filter(|&k| k as usize > n) {
            return Err(CommandError::Failed(format!(
                "--quorum {k}: more than the {n} --witness-key given"
            )));
        }
        Ok(audit::Quorum {
            keys: self.witness_keys,
            k: self.quorum.map(|k| k as usize),
        })
    }
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Print the verifier key in the signed-note form `name+id+base64`.
    Public {
        /// The signing key file; default DATA/checkpoint.key, created on first use.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The name of a key created now (the checkpoints' origin line).
        #[arg(long)]
        origin: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Add a token and print it, alone, on stdout: the only time it is shown.
    Add {
        /// The token's name: the actor recorded on what it appends (a-z, 0-9, '-').
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_enum)]
        role: Role,
        #[command(flatten)]
        data: DataDir,
    },
    /// List the tokens: name, role, creation time.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke a token: it stops working at once, on a running server too.
    Revoke {
        /// The name of the token to revoke.
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

/// The bounds of the memory caches of the commands that run for a long time (`serve`,
/// `follow`).
#[derive(Args, Clone)]
struct Caches {
    /// The bound, in MiB of stored entries, of the writer's in-memory cache of the rules
    /// state (the state itself is in the store, read an entity at a time).
    #[arg(long, value_name = "MIB", default_value_t = (orgledger::ledger::DEFAULT_RULES_CACHE_BYTES >> 20) as u64)]
    rules_cache_mib: u64,
    /// The bound, in MiB, of the store's page cache (sled's): pages of the log read or
    /// written lately, kept decoded in memory.
    #[arg(long, value_name = "MIB", default_value_t = orgledger::store::DEFAULT_CACHE_BYTES >> 20)]
    store_cache_mib: u64,
}

impl Caches {
    fn rules_bytes(&self) -> usize {
        usize::try_from(self.rules_cache_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    fn store_bytes(&self) -> u64 {
        self.store_cache_mib.saturating_mul(1 << 20)
    }
}

/// The data directory of a command that uses a ledger. It is not global: the commands
/// that use no store (`schema`, `verify-proof`, `completions`, `man`, `tls self-signed`) do not offer it.
#[derive(Args, Clone, Default)]
struct DataDir {
    /// The ledger's data directory; default $ORGLEDGER_DATA, else ./orgledger-data.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// The default data directory when neither `--data` nor `ORGLEDGER_DATA` names one.
const DEFAULT_DATA: &str = "./orgledger-data";

impl DataDir {
    /// The directory to use: `--data` after the command, else before it, else the
    /// environment (an empty value counts as unset), else `./orgledger-data`.
    fn resolve(self, before_command: &Option<PathBuf>) -> PathBuf {
        self.data
            .or_else(|| before_command.clone())
            .or_else(|| {
                std::env::var_os("ORGLEDGER_DATA")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA))
    }
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
    /// json: one object, as GraphQL's report fields (snake_case); table: for a person to read;
    /// csv: for a spreadsheet, a table per list (README).
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    format: OutputFormat,
    #[command(flatten)]
    data: DataDir,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Json,
    Table,
    Csv,
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
        /// The first year listed (1900 to 2100).
        #[arg(long)]
        from_year: Option<i32>,
        /// The last year listed (1900 to 2100).
        #[arg(long)]
        to_year: Option<i32>,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Cadres below standard, standardized and retired under policy under a programme.
    Standardization {
        /// The standardization programme's id (the demo's is 03-da-tu).
        #[arg(long)]
        programme: String,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Cell meetings, and those of weak cells with the committee member in charge present.
    Meetings {
        /// Only the meetings held in this year; default every year.
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
        /// The planning term's id (the demo's is 2015-2020).
        #[arg(long)]
        term: String,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// The members of an organization, with their status.
    Roster {
        /// The organization's id (a cell or a committee).
        #[arg(long)]
        org: String,
        #[command(flatten)]
        options: ReportOptions,
    },
    /// Every event that named a locality, organization, member or cadre.
    History {
        /// The id of a locality, organization, member, cadre, instrument or resolution.
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
    let top = cli.data;
    let dir = |d: DataDir| d.resolve(&top);
    match cli.command {
        Command::Append {
            file,
            expect_seq,
            actor,
            data,
        } => {
            let data = dir(data);
            match file {
                Some(path) if path.is_dir() => Err(CommandError::Failed(format!(
                    "{}: is a directory, not a file of events",
                    path.display()
                ))),
                Some(path) if path.as_os_str() != "-" => {
                    let f = std::fs::File::open(&path)
                        .map_err(|e| CommandError::Failed(format!("{}: {e}", path.display())))?;
                    commands::append(&data, BufReader::new(f), expect_seq, &actor, &mut out)
                }
                _ => commands::append(&data, std::io::stdin().lock(), expect_seq, &actor, &mut out),
            }
        }
        Command::Verify {
            file,
            checkpoint,
            key,
            quorum,
            data,
        } => match (file, checkpoint.zip(key)) {
            (Some(file), Some((cp, key))) => {
                audit::verify_file_against(&file, &cp, &key, &quorum.into_quorum()?, &mut out)
            }
            (None, Some((cp, key))) => {
                audit::verify_store_against(&dir(data), &cp, &key, &quorum.into_quorum()?, &mut out)
            }
            (Some(file), None) => commands::verify_file(&file, &mut out),
            (None, None) => commands::verify_store(&dir(data), &mut out),
        },
        Command::Proof {
            proof: ProofCommand::Inclusion { seq, size, data },
        } => audit::proof_inclusion(&dir(data), seq, size, &mut out),
        Command::Proof {
            proof: ProofCommand::Consistency { from, to, data },
        } => audit::proof_consistency(&dir(data), from, to, &mut out),
        Command::VerifyProof {
            file,
            checkpoint,
            key,
            quorum,
        } => audit::verify_proof(
            &file,
            checkpoint.as_deref().zip(key.as_deref()),
            &quorum.into_quorum()?,
            &mut out,
        ),
        Command::Checkpoint {
            key,
            origin,
            witnesses,
            quorum,
            ca,
            data,
        } => audit::checkpoint(
            &dir(data),
            key.as_deref(),
            origin.as_deref(),
            &witnesses,
            quorum,
            ca.as_deref(),
            &mut out,
        ),
        Command::Tls {
            command: TlsCommand::SelfSigned { hosts, out: dir },
        } => commands::tls::self_signed(&hosts, &dir, &mut out),
        Command::Witness { command } => match command {
            WitnessCommand::Init { origin, data } => commands::witness::init(&dir(data), &origin, &mut out),
            WitnessCommand::Serve { listen, logs, data } => {
                commands::witness::serve(&dir(data), &listen, &logs, &mut out)
            }
            WitnessCommand::Evidence { data } => commands::witness::evidence(&dir(data), &mut out),
        },
        Command::Key {
            command: KeyCommand::Public { key, origin, data },
        } => audit::key_public(&dir(data), key.as_deref(), origin.as_deref(), &mut out),
        Command::Export { out: Some(path), data } => commands::export_file(&dir(data), &path).map(|_| ()),
        Command::Export { out: None, data } => {
            commands::export(&dir(data), &mut std::io::BufWriter::new(out)).map(|_| ())
        }
        Command::Import { file, data } => commands::import(&dir(data), &file, &mut out),
        Command::Report { report } => {
            let (kind, options) = report.into_parts();
            let as_of = AsOf {
                date: options.date,
                seq: options.seq,
            };
            let format = match options.format {
                OutputFormat::Json => Format::Json,
                OutputFormat::Table => Format::Table,
                OutputFormat::Csv => Format::Csv,
            };
            commands::report::report(&dir(options.data), &kind, &as_of, format, &mut out)
        }
        Command::Log { from, limit, data } => commands::log(&dir(data), from, limit, &mut out),
        Command::Demo { data } => commands::demo(&dir(data), &mut out),
        Command::Generate { events, seed, data } => commands::generate(&dir(data), events, seed, &mut out),
        Command::Follow {
            url,
            token,
            key,
            listen,
            public_read,
            poll_ms,
            batch,
            witness_key,
            ca,
            tls_cert,
            tls_key,
            insecure_http,
            caches,
            data,
        } => commands::follow::follow(
            &dir(data),
            commands::follow::FollowOptions {
                leader: url,
                token,
                key,
                listen,
                public_read,
                poll: std::time::Duration::from_millis(poll_ms),
                batch,
                witness_key,
                ca,
                tls: tls_cert.zip(tls_key),
                insecure_http,
                rules_cache_bytes: caches.rules_bytes(),
                store_cache_bytes: caches.store_bytes(),
            },
            &mut out,
        ),
        Command::Serve {
            listen,
            demo,
            public_read,
            witnesses,
            quorum,
            checkpoint_interval,
            tls_cert,
            tls_key,
            insecure_http,
            ca,
            caches,
            data,
        } => serve::serve(
            &dir(data),
            serve::ServeOptions {
                listen,
                demo,
                public_read,
                witnesses,
                quorum,
                checkpoint_interval,
                tls: tls_cert.zip(tls_key),
                insecure_http,
                ca,
                rules_cache_bytes: caches.rules_bytes(),
                store_cache_bytes: caches.store_bytes(),
            },
            &mut out,
        ),
        Command::Token { command } => match command {
            TokenCommand::Add { name, role, data } => serve::token_add(&dir(data), &name, role, &mut out),
            TokenCommand::List { data } => serve::token_list(&dir(data), &mut out),
            TokenCommand::Revoke { name, data } => serve::token_revoke(&dir(data), &name, &mut out),
        },
        Command::Schema => serve::schema(&mut out),
        Command::Completions { shell } => {
            let shell = match shell {
                CompletionShell::Bash => clap_complete::Shell::Bash,
                CompletionShell::Zsh => clap_complete::Shell::Zsh,
                CompletionShell::Fish => clap_complete::Shell::Fish,
                CompletionShell::Powershell => clap_complete::Shell::PowerShell,
            };
            // Written whole to a buffer first: clap_complete panics on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "orgledger", &mut script);
            out.write_all(&script).map_err(CommandError::from)
        }
        Command::Man { out: None } => clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .map_err(CommandError::from),
        Command::Man { out: Some(dir) } => man_pages(&dir, &mut out),
    }
}

/// The shells `orgledger completions` writes for.
#[derive(Clone, Copy, ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// `orgledger man --out DIR`: orgledger.1 and a page for each command, from the same
/// definitions as `--help`; prints each path written.
fn man_pages(dir: &std::path::Path, out: &mut impl Write) -> Result<(), CommandError> {
    std::fs::create_dir_all(dir).map_err(|e| CommandError::Failed(format!("--out {}: {e}", dir.display())))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .map_err(|e| CommandError::Failed(format!("--out {}: {e}", dir.display())))?;
    let mut pages: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("orgledger") && n.ends_with(".1"))
        })
        .collect();
    pages.sort();
    for page in pages {
        writeln!(out, "{}", page.display())?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    orgledger::progress::set_mode(match (&cli.command, cli.quiet) {
        (_, true) => orgledger::progress::Mode::Off,
        (Command::Serve { .. }, false) => orgledger::progress::Mode::Log,
        (_, false) => orgledger::progress::mode_for_terminal(false),
    });
    match run(cli) {
        Ok(()) | Err(CommandError::OutputClosed) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
