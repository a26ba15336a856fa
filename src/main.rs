//! The `noodle` command line: run, build, check, disasm, repl.

use clap::{Parser, Subcommand};
use noodle::bytecode::{disasm, nbc, Verified};
use noodle::diag::SourceMap;
use noodle::driver;
use noodle::vm::{Exit, Vm};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod cluster_cli;
mod repl;
mod state;

/// mimalloc: Noodle programs allocate many small lists, maps and strings;
/// it is markedly faster than the system allocator for that pattern (bench/).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "noodle", version, about = "The Noodle language: compile and run .nd programs")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

/// Where durable actors keep their records (runtime.md §7).
#[derive(clap::Args)]
struct DataOpts {
    /// Directory for durable actors' records (default: .noodle, made on first need).
    #[arg(long, value_name = "DIR", conflicts_with = "ephemeral")]
    data: Option<PathBuf>,
    /// Keep durable actors' records in memory only.
    #[arg(long)]
    ephemeral: bool,
}

impl DataOpts {
    fn dir(self) -> Option<PathBuf> {
        (!self.ephemeral).then(|| self.data.unwrap_or_else(|| PathBuf::from(".noodle")))
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a program (.nd source or .nbc bytecode). Noodle's options come
    /// before the program's path; everything after it goes to args().
    Run {
        /// The program's path, then its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "FILE [ARGS]")]
        program: Vec<String>,
        /// Maximum call depth before a StackOverflowError (at least 1).
        #[arg(long, default_value_t = 100_000, value_parser = positive)]
        max_depth: u64,
        /// Worker threads for actors (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        data: DataOpts,
        /// Run on a cluster: a node to join (docs/cluster.md).
        #[arg(long, value_name = "HOST:PORT", requires = "secret_file")]
        cluster: Option<String>,
        /// File holding the cluster's shared secret.
        #[arg(long, value_name = "FILE", requires = "cluster")]
        secret_file: Option<PathBuf>,
        /// Address this program's node listens on (default: 127.0.0.1, a free port).
        #[arg(long, value_name = "HOST:PORT", requires = "cluster")]
        listen: Option<String>,
        /// This program's node's name in the cluster (default: its address).
        #[arg(long, requires = "cluster")]
        name: Option<String>,
        /// Membership provider: swim (default) or etcd://HOST:PORT[/PREFIX], as the cluster's nodes.
        #[arg(long, value_name = "PROVIDER", requires = "cluster", default_value = "swim")]
        membership: String,
    },
    /// Compile a program and its imports into one .nbc file.
    Build {
        file: PathBuf,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Report every compile error in a program without running it.
    Check { file: PathBuf },
    /// Print a readable listing of a .nbc file (or of a .nd file, compiled first).
    Disasm { file: PathBuf },
    /// Durable actors' records: list them, show one, delete one.
    State {
        #[command(subcommand)]
        action: StateCmd,
        /// The data directory (default: .noodle).
        #[arg(long, value_name = "DIR", global = true, default_value = ".noodle")]
        data: PathBuf,
    },
    /// Run a cluster node until SIGINT/SIGTERM (docs/cluster.md).
    Node {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, value_name = "HOST:PORT")]
        listen: String,
        /// Address other nodes reach this one at (default: the bound one).
        #[arg(long, value_name = "HOST:PORT")]
        advertise: Option<String>,
        /// A node of the cluster to join (repeatable).
        #[arg(long, value_name = "HOST:PORT")]
        join: Vec<String>,
        /// File holding the cluster's shared secret (at least 16 bytes).
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
        /// The node's name (default: its advertised address).
        #[arg(long)]
        name: Option<String>,
        /// What the node offers: cpus=N,memory=SIZE,gpus=N (default: this machine).
        #[arg(long, value_name = "LIST")]
        capacity: Option<String>,
        /// Directory for the node's durable records.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Failure detection preset: fast, lan (default) or wan (docs/cluster.md).
        #[arg(long, default_value = "lan")]
        fd: String,
        /// Worker threads for the actors hosted here (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Membership provider: swim (gossip, default) or etcd://HOST:PORT[/PREFIX] (docs/cluster.md).
        #[arg(long, value_name = "PROVIDER", default_value = "swim")]
        membership: String,
    },
    /// Ask a cluster node about the cluster.
    Cluster {
        #[command(subcommand)]
        action: ClusterCmd,
        /// A node of the cluster.
        #[arg(long, value_name = "HOST:PORT", global = true)]
        cluster: Option<String>,
        /// File holding the cluster's shared secret.
        #[arg(long, value_name = "FILE", global = true)]
        secret_file: Option<PathBuf>,
    },
    /// Start the interactive session.
    Repl {
        /// Worker threads for actors (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        data: DataOpts,
    },
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// The nodes a node knows, with their state, address, incarnation and capacity.
    Status,
    /// The nodes' names, one per line.
    Members,
    /// Where the actor registered under NAME runs, and why it was placed there.
    Whereis { name: String },
    /// Move every actor off NODE to the other nodes; NODE takes no new ones.
    Drain { node: String },
}

#[derive(Subcommand)]
enum StateCmd {
    /// List the records: name, class, generation, size, last commit.
    Ls,
    /// Print one record's state fields as Noodle values.
    Show { name: String },
    /// Delete one record (the actor starts fresh next time).
    Rm { name: String },
}

/// `--max-depth` and friends: a whole number of at least 1.
fn positive(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number of at least 1".into()),
    }
}

const EXIT_COMPILE: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_RUNTIME: u8 = 3;

/// `mi_option_purge_delay` in mimalloc v2's `mi_option_e` (mimalloc.h); the
/// Rust bindings do not name it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Programs free and rebuild large structures in phases; mimalloc's default
    // returns freed pages to the OS after 10 ms, so each phase page-faults its
    // memory back in (measured ~10% of `bench/trees.nd`). Keep it for a second.
    // SAFETY: sets a plain integer option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    // Transparent huge pages make the kernel clear and compact 2 MiB at a
    // time; with many small heaps (actors) that showed up as runs taking 3x
    // longer in system time. Plain pages are steadier.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only affects this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // Compiler passes recurse over the AST; a big stack keeps deeply nested
    // input from overflowing it.
    let worker = std::thread::Builder::new().stack_size(noodle::vm::VM_STACK).spawn(move || run_cli(cli));
    match worker.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => {
            noodle::ewriteln!("noodle: internal error (this is a bug; please report it)");
            ExitCode::from(70)
        }
    }
}

fn run_cli(cli: Cli) -> ExitCode {
    match cli.cmd {
        None => repl::run(None, Some(PathBuf::from(".noodle"))),
        Some(Cmd::Repl { workers, data }) => repl::run(workers, data.dir()),
        Some(Cmd::Run { program, max_depth, workers, data, cluster, secret_file, listen, name, membership }) => {
            let file = PathBuf::from(&program[0]);
            let args = program[1..].to_vec();
            let p = match load(&file) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let workers = workers.unwrap_or_else(noodle::runtime::default_workers).clamp(1, 1024);
            let net = match (cluster, secret_file) {
                (Some(c), Some(f)) => match cluster_cli::program_node(c, &f, listen, name, &membership, workers) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        noodle::ewriteln!("error: {e}");
                        return ExitCode::from(EXIT_USAGE);
                    }
                },
                _ => None,
            };
            execute(p, args, max_depth.min(usize::MAX as u64) as usize, workers, data.dir(), net)
        }
        Some(Cmd::State { action, data }) => {
            let action = match action {
                StateCmd::Ls => state::Action::List,
                StateCmd::Show { name } => state::Action::Show(name),
                StateCmd::Rm { name } => state::Action::Remove(name),
            };
            state::run(action, &data)
        }
        Some(Cmd::Node { listen, advertise, join, secret_file, name, capacity, data, fd, workers, membership }) => {
            let a = cluster_cli::NodeArgs { listen, advertise, join, name, capacity, fd, membership, data, workers };
            cluster_cli::node(a, &secret_file)
        }
        Some(Cmd::Cluster { action, cluster, secret_file }) => {
            let what = match action {
                ClusterCmd::Status => cluster_cli::Query::Status,
                ClusterCmd::Members => cluster_cli::Query::Members,
                ClusterCmd::Whereis { name } => cluster_cli::Query::Whereis(name),
                ClusterCmd::Drain { node } => cluster_cli::Query::Drain(node),
            };
            cluster_cli::query(what, cluster, secret_file)
        }
        Some(Cmd::Build { file, output }) => {
            let Some(p) = compile(&file) else { return ExitCode::from(EXIT_COMPILE) };
            let out = output.unwrap_or_else(|| file.with_extension("nbc"));
            match std::fs::write(&out, nbc::encode(&p)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    noodle::ewriteln!("error: cannot write {}: {e}", out.display());
                    ExitCode::from(EXIT_COMPILE)
                }
            }
        }
        Some(Cmd::Check { file }) if is_nbc(&file) => {
            noodle::ewriteln!("error: {} is an NBC bytecode file; `noodle check` takes source (.nd)", file.display());
            ExitCode::from(EXIT_USAGE)
        }
        Some(Cmd::Check { file }) => match compile(&file) {
            Some(_) => ExitCode::SUCCESS,
            None => ExitCode::from(EXIT_COMPILE),
        },
        Some(Cmd::Disasm { file }) => match load(&file) {
            Ok(p) => {
                noodle::owrite!("{}", disasm::disassemble(&p));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}

fn read(file: &Path) -> Option<Vec<u8>> {
    match std::fs::read(file) {
        Ok(b) => Some(b),
        Err(e) => {
            noodle::ewriteln!("error: cannot read {}: {e}", file.display());
            None
        }
    }
}

/// Compile a source file, printing diagnostics on failure. The compiler's
/// output goes through the verifier like any bytecode (a refusal is a bug in
/// the compiler, reported as an internal error).
fn compile(file: &Path) -> Option<Verified> {
    compile_bytes(file, read(file)?)
}

/// Compile source already read (a pipe or `/dev/stdin` can be read only once).
fn compile_bytes(file: &Path, bytes: Vec<u8>) -> Option<Verified> {
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) if e.as_bytes().starts_with(nbc::MAGIC) => {
            noodle::ewriteln!("error: {} is an NBC bytecode file, not source", file.display());
            return None;
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            noodle::ewriteln!("error: {} is not Noodle source: not valid UTF-8 at byte {at}", file.display());
            return None;
        }
    };
    match driver::compile_file(file, text) {
        Ok(c) => match noodle::bytecode::verify(c.program) {
            Ok(v) => Some(v),
            Err(e) => {
                noodle::ewriteln!("internal error: the compiler produced bytecode the verifier refuses ({e}); please report it");
                None
            }
        },
        Err(f) => {
            report(&f.sources, &f.diags);
            None
        }
    }
}

fn report(sources: &SourceMap, diags: &[noodle::diag::Diagnostic]) {
    let color = std::io::stderr().is_terminal();
    noodle::ewrite!("{}", sources.render(diags, color));
    let n = diags.len();
    noodle::ewriteln!("{n} error{} found", if n == 1 { "" } else { "s" });
}

/// Whether a file holds NBC bytecode: by its first bytes, whatever its name.
fn is_nbc(file: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(file).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == *nbc::MAGIC
        || file.extension().is_some_and(|e| e == "nbc")
}

/// Load a program from NBC bytecode (decoded and verified; recognised by its
/// magic bytes, so a renamed file works too) or from source (compiled).
fn load(file: &Path) -> Result<Verified, ExitCode> {
    let bytes = read(file).ok_or(ExitCode::from(EXIT_COMPILE))?;
    if bytes.starts_with(nbc::MAGIC) || file.extension().is_some_and(|e| e == "nbc") {
        nbc::decode(&bytes).map_err(|e| {
            noodle::ewriteln!("error: {}: {e}", file.display());
            ExitCode::from(EXIT_COMPILE)
        })
    } else {
        compile_bytes(file, bytes).ok_or(ExitCode::from(EXIT_COMPILE))
    }
}

fn execute(
    p: Verified,
    args: Vec<String>,
    max_depth: usize,
    workers: usize,
    data: Option<PathBuf>,
    net: Option<noodle::cluster::node::Handle>,
) -> ExitCode {
    let p = std::sync::Arc::new(p);
    let mut vm = Vm::new();
    vm.library = noodle::library::MODULES;
    vm.args = args;
    vm.max_depth = max_depth.max(1);
    vm.load(&p);
    let node = noodle::runtime::Node::with_data(workers, p.clone(), &vm, data);
    if let Some(h) = &net {
        node.set_net(h.agent.clone());
        h.agent.add_run(&node);
    }
    noodle::runtime::attach(&mut vm, node.clone());
    noodle::runtime::commit_on_signals(node.clone());
    vm.program = Some(p.clone());
    let entry = &p.modules[p.entry as usize];
    let exit = vm.run_main(p.entry, entry.main);
    vm.flush();
    // Actors and tasks still running stop with the program, on every node.
    node.shutdown();
    node.close_records();
    if let Some(h) = net {
        h.agent.end_run(&node);
        h.stop();
    }
    match exit {
        Exit::Finished(_) => ExitCode::SUCCESS,
        Exit::ExitCode(c) => ExitCode::from(c as u8),
        Exit::Error(e) => {
            vm.flush();
            noodle::ewrite!("{}", Vm::describe_error(&e));
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
