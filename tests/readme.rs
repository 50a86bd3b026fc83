//! The README's examples actually work, and print what it says: every line of a ```sh
//! block that does not start with `cargo` (the set-up commands, which the test suite itself
//! stands for) is run, in order, in one shell, in a fresh directory holding a copy of
//! `examples/` and `tools/`, as a newcomer would type them; each must exit 0, and what its
//! comment quotes between backquotes (`…` standing for any text) must be in what it
//! printed. Nothing outside the scratch directory the README names is written.

mod common;

use std::path::Path;
use std::process::Command;

/// An example command line of the README, and what its comment says it prints.
struct Example {
    command: String,
    /// The backquoted parts of the comment: text the output holds, `…` for any text.
    prints: Vec<String>,
}

/// The example command lines of the README, in order.
fn examples(readme: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = trimmed == "```sh";
            continue;
        }
        if !in_sh || trimmed.starts_with("cargo ") || trimmed.is_empty() {
            continue;
        }
        // A comment starts at "  # " (two spaces); a `#` inside JSON or a URL is not one.
        let (command, comment) = match trimmed.find("  # ") {
            Some(i) => (trimmed[..i].trim_end(), &trimmed[i + 4..]),
            None => (trimmed, ""),
        };
        let prints = comment
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, quoted)| quoted.to_owned())
            .collect();
        found.push(Example {
            command: command.to_owned(),
            prints,
        });
    }
    found
}

/// Whether `output` holds `expected`, where `…` in `expected` stands for any text.
fn holds(output: &str, expected: &str) -> bool {
    let mut rest = output;
    for piece in expected.split('…').filter(|p| !p.is_empty()) {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    true
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

#[test]
fn every_readme_example_runs_in_order_and_prints_what_it_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let examples = examples(&readme);
    assert!(
        examples.len() >= 15,
        "the README shows its examples in ```sh blocks: {:?}",
        examples.iter().map(|e| &e.command).collect::<Vec<_>>()
    );
    assert!(
        examples.iter().filter(|e| !e.prints.is_empty()).count() >= 10,
        "the README says what its examples print"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&root.join("examples"), &dir.path().join("examples"));
    copy_dir(&root.join("tools"), &dir.path().join("tools"));
    let bin = Path::new(env!("CARGO_BIN_EXE_orgledger"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The README's `python3 tools/verify_export.py` needs the blake3 package: the venv's
    // python3 comes first on PATH.
    let python = common::python_with_blake3();
    let path = format!("{}:{path}", python.parent().expect("venv bin").display());

    // One shell runs every line, so that what one line sets (`export`) holds for the next,
    // as in a newcomer's terminal; each line's output is kept apart, and the first failure
    // stops the script.
    let outputs = dir.path().join(".outputs");
    std::fs::create_dir(&outputs).expect("mkdir");
    let mut script = String::new();
    for (i, example) in examples.iter().enumerate() {
        let o = outputs.join(i.to_string());
        script.push_str(&format!(
            "{{ {command}\n}} > '{o}.out' 2> '{o}.err' || {{ echo $? > '{o}.failed'; exit 1; }}\n",
            command = example.command,
            o = o.display()
        ));
    }
    // The shell leads a process group of its own, so that what an example starts in the
    // background (a witness) is stopped with it, also when an example fails first.
    let run = {
        use std::os::unix::process::CommandExt;
        Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env_remove("ORGLEDGER_DATA")
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh")
    };
    let group = run.id();
    let run = run.wait_with_output().expect("sh");
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .status();
    let read = |i: usize, ext: &str| std::fs::read_to_string(outputs.join(format!("{i}.{ext}"))).unwrap_or_default();
    for (i, example) in examples.iter().enumerate() {
        let (out, err) = (read(i, "out"), read(i, "err"));
        assert!(
            !outputs.join(format!("{i}.failed")).exists(),
            "README example failed (exit {}): {}\nstdout: {out}\nstderr: {err}",
            read(i, "failed").trim(),
            example.command
        );
        assert!(
            outputs.join(format!("{i}.out")).exists(),
            "README example did not run: {}\nthe shell said: {}",
            example.command,
            String::from_utf8_lossy(&run.stderr)
        );
        for expected in &example.prints {
            assert!(
                holds(&out, expected),
                "README example {}\nsays it prints `{expected}`, but printed:\n{out}",
                example.command
            );
        }
        // Quiet by nature: what writes its output to a file, and plain shell (a variable, a
        // wait loop, a copy, a kill).
        let command = &example.command;
        let shell = ["for ", "cp ", "kill "].iter().any(|p| command.starts_with(p))
            || command.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            });
        let quiet =
            command.starts_with("export ") || command.contains("export --out") || command.contains(" > ") || shell;
        assert!(quiet || !out.is_empty(), "{} printed nothing", example.command);
    }
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    // What the examples wrote is in the scratch directory the README names.
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !["examples", "tools", ".outputs"].contains(&name.as_str()))
        .collect();
    written.sort();
    assert_eq!(written, ["scratch"], "the README's examples write only under scratch/");
}

/// Every link of the README, FORMAT.md and docs/*.md to a file names one in the repository, and
/// nothing points outside it (`../`).
#[test]
fn the_documents_link_only_to_files_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut documents = vec![root.join("README.md"), root.join("FORMAT.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        // The texts, not the pictures they show.
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    for document in documents {
        let text = std::fs::read_to_string(&document).expect("a document");
        assert!(
            !text.contains("../"),
            "{} points outside the repository",
            document.display()
        );
        // Markdown links: `](target)`.
        for (i, _) in text.match_indices("](") {
            let target = &text[i + 2..];
            let target = &target[..target.find(')').expect("a closed link")];
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with('#') {
                continue;
            }
            let path = target.split('#').next().unwrap_or(target);
            let base = document.parent().expect("a folder");
            assert!(
                base.join(path).exists(),
                "{} links to {target}, which is not in the repository",
                document.display()
            );
        }
    }
}
