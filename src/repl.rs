//! `noodle repl`: definitions persist between inputs, expression lines print
//! their value, open brackets continue onto the next line, errors are
//! reported and the session goes on. Without a terminal it reads stdin.

use noodle::driver::Loader;
use noodle::sema::ModuleScope;
use noodle::vm::{Exit, Vm};
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::rc::Rc;

const HELP: &str = "Noodle REPL — enter statements or expressions.
  :help   show this help
  :quit   leave (also Ctrl-D)
Open brackets continue on the next line; definitions persist between inputs.";

struct Session {
    loader: Loader,
    scope: ModuleScope,
    /// Shared with the session's tasks, which outlive the input that started them.
    vm: Rc<RefCell<Vm>>,
    count: usize,
}

/// What one line of input amounts to.
enum Feed {
    Quit,
    /// A command was handled, the line was empty, or brackets are still open.
    More,
    Ready(String),
}

impl Session {
    /// Add a line to the pending input; commands (`:help`, `:quit`) apply only
    /// at the start of an input.
    fn feed(&self, buf: &mut String, line: &str) -> Feed {
        if buf.is_empty() {
            match line.trim() {
                ":quit" | ":q" => return Feed::Quit,
                ":help" | "help" => {
                    noodle::owrite!("{HELP}\n");
                    return Feed::More;
                }
                "" => return Feed::More,
                _ => {}
            }
        }
        buf.push_str(line);
        buf.push('\n');
        if Session::incomplete(buf) {
            Feed::More
        } else {
            Feed::Ready(std::mem::take(buf))
        }
    }

    fn new(workers: Option<usize>, data: Option<std::path::PathBuf>) -> Session {
        let mut vm = Vm::new();
        vm.library = noodle::library::MODULES;
        let workers = workers.unwrap_or_else(noodle::runtime::default_workers).clamp(1, 1024);
        let node = noodle::runtime::Node::with_data(workers, Default::default(), &vm, data);
        noodle::runtime::attach(&mut vm, node);
        Session {
            loader: Loader::default(),
            scope: ModuleScope { allow_redefine: true, ..Default::default() },
            vm: Rc::new(RefCell::new(vm)),
            count: 0,
        }
    }

    /// Leaving: close the durable store cleanly.
    fn close(&self) {
        if let Some(node) = noodle::runtime::node_of(&self.vm.borrow()) {
            node.close_records();
        }
    }

    /// Whether `text` still has an open bracket or string (needs more lines).
    fn incomplete(text: &str) -> bool {
        let (_, diags) = noodle::lexer::lex(text, 0, 0);
        diags.iter().any(|d| d.title.starts_with("unclosed"))
    }

    /// Run one input; `false` if it failed (compile or runtime error).
    fn eval(&mut self, text: &str) -> bool {
        self.count += 1;
        let name = format!("<repl:{}>", self.count);
        match self.loader.load_repl(&name, text, &mut self.scope) {
            Ok(main) => {
                {
                    let mut vm = self.vm.borrow_mut();
                    // The session module's top level is this input's code.
                    if let Some(m) = self.loader.pb.program.modules.first_mut() {
                        m.main = main;
                    }
                    // Worker threads load the program as it grows.
                    let p = match noodle::bytecode::verify(self.loader.pb.program.clone()) {
                        Ok(v) => std::sync::Arc::new(v),
                        Err(e) => {
                            noodle::ewriteln!(
                                "internal error: the compiler produced bytecode the verifier refuses ({e}); please report it"
                            );
                            return false;
                        }
                    };
                    vm.load(&p);
                    if let Some(n) = noodle::runtime::node_of(&vm) {
                        *noodle::contain::lock(&n.program) = p.clone();
                    }
                    vm.program = Some(p);
                }
                // A Ctrl-C pressed while no input ran is not for this one.
                noodle::runtime::INTERRUPTED.store(false, std::sync::atomic::Ordering::SeqCst);
                let exit = Vm::run_main_shared(&self.vm, 0, main);
                let mut vm = self.vm.borrow_mut();
                match exit {
                    Exit::Finished(_) => true,
                    Exit::ExitCode(c) => {
                        vm.flush();
                        std::process::exit(c);
                    }
                    Exit::Error(e) => {
                        vm.flush();
                        noodle::ewrite!("{}", Vm::describe_error(&e));
                        vm.reset_frames();
                        false
                    }
                }
            }
            Err(diags) => {
                let color = std::io::stderr().is_terminal();
                noodle::ewrite!("{}", self.loader.sources.render(&diags, color));
                false
            }
        }
    }
}

pub fn run(workers: Option<usize>, data: Option<std::path::PathBuf>) -> ExitCode {
    let mut s = Session::new(workers, data);
    noodle::runtime::catch_interrupts();
    if !std::io::stdin().is_terminal() {
        // Piped input: like a script, exit 1 if any input failed.
        let stdin = std::io::stdin();
        let mut buf = String::new();
        let mut ok = true;
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            match s.feed(&mut buf, &line) {
                Feed::Quit => break,
                Feed::More => continue,
                Feed::Ready(text) => ok &= s.eval(&text),
            }
        }
        if !buf.is_empty() {
            ok &= s.eval(&buf);
        }
        s.vm.borrow_mut().flush();
        s.close();
        return if ok { ExitCode::SUCCESS } else { ExitCode::from(1) };
    }
    noodle::owrite!("Noodle {} — :help for help, :quit to leave\n", env!("CARGO_PKG_VERSION"));
    let Ok(mut rl) = rustyline::DefaultEditor::new() else {
        noodle::ewriteln!("error: cannot start the line editor");
        return ExitCode::from(2);
    };
    let history = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".noodle_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() { ">>> " } else { "... " };
        match rl.readline(prompt) {
            Ok(line) => {
                let text = match s.feed(&mut buf, &line) {
                    Feed::Quit => break,
                    Feed::More => continue,
                    Feed::Ready(text) => text,
                };
                let _ = rl.add_history_entry(text.trim_end());
                let _ = s.eval(&text);
                s.vm.borrow_mut().flush();
                let _ = std::io::stdout().flush();
            }
            Err(rustyline::error::ReadlineError::Interrupted) => buf.clear(),
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    s.close();
    ExitCode::SUCCESS
}
