//! A child `orgledger` process whose stdout and stderr lines arrive on channels, for the
//! tests that run servers, followers and witnesses side by side; killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest any one wait may take before the test fails: only a hang reaches it.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// `orgledger ARGS --data DATA`, run to its end.
pub fn orgledger_in(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .env_remove("ORGLEDGER_DATA")
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("orgledger runs")
}

/// The stdout of a command that must have succeeded (else its stderr in the failure).
pub fn stdout_of(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

pub struct Running {
    pub child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Starts `command` (without `ORGLEDGER_DATA`, logging at info unless it sets its own
    /// `RUST_LOG`), its output piped.
    pub fn spawn(command: &mut Command) -> Running {
        if !command.get_envs().any(|(name, _)| name == "RUST_LOG") {
            command.env("RUST_LOG", "info");
        }
        let mut child = command
            .env_remove("ORGLEDGER_DATA")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("orgledger starts");
        let lines = |read: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(read).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().expect("piped")));
        let stderr = lines(Box::new(child.stderr.take().expect("piped")));
        Running { child, stdout, stderr }
    }

    /// `orgledger ARGS`.
    pub fn orgledger(args: &[&str]) -> Running {
        Running::spawn(Command::new(env!("CARGO_BIN_EXE_orgledger")).args(args))
    }

    /// The first stdout line `found` accepts, or a failure with what stderr said.
    pub fn stdout_until<T>(&self, what: &str, mut found: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some(t) = found(&line) {
                        return t;
                    }
                }
                Err(_) => panic!("no {what} on stdout; stderr:\n{}", self.drain_stderr()),
            }
        }
    }

    /// The first stderr line `found` accepts.
    pub fn stderr_until<T>(&self, what: &str, mut found: impl FnMut(&str) -> Option<T>) -> T {
        loop {
            match self.stderr.recv_timeout(PATIENCE) {
                Ok(line) => {
                    if let Some(t) = found(&line) {
                        return t;
                    }
                }
                Err(_) => panic!("no {what} on stderr"),
            }
        }
    }

    /// The first stderr line that holds `text`.
    pub fn stderr_line(&self, text: &str) -> String {
        self.stderr_until(&format!("{text:?}"), |l| l.contains(text).then(|| l.to_owned()))
    }

    /// The URL after `listening on ` on stdout.
    pub fn url(&self) -> String {
        self.stdout_until("listening line", |l| {
            l.strip_prefix("listening on ").map(|u| u.trim().to_owned())
        })
    }

    /// The stderr lines received so far.
    pub fn drain_stderr(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Waits for the process to end by itself: its exit code and its stderr.
    pub fn exit(mut self) -> (Option<i32>, String) {
        let status = self.wait_until_gone();
        let mut stderr = Vec::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            stderr.push(line);
        }
        (status, stderr.join("\n"))
    }

    /// SIGTERM, and the exit code once it stopped.
    pub fn stop(mut self) -> Option<i32> {
        // SAFETY: a signal to our own child, by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait_until_gone()
    }

    /// SIGKILL, and wait until it is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_until_gone(&mut self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the process did not stop by itself");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
