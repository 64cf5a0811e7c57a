//! Commands run after a template's destination changed (`command` / `exec`).
//!
//! A string runs with `sh -c`; a list runs directly. Commands are queued to one runner task
//! that runs them one at a time, so a slow command never blocks rendering; a command that
//! outlives its timeout is killed. When several changed templates name the same command in one
//! render pass, it runs once. A non-zero exit is logged with the templates that asked for it.

use std::process::Stdio;

use tokio::sync::mpsc;
use tracing::{error, info, warn};
use vaultward_config::{CommandLine, TemplateCommand};

/// One command to run, with the templates whose change asked for it.
#[derive(Debug)]
pub struct Job {
    /// The command.
    pub command: TemplateCommand,
    /// Names of the templates, for the log.
    pub templates: Vec<String>,
}

/// Queues commands to the runner task.
#[derive(Clone)]
pub struct Runner {
    queue: mpsc::UnboundedSender<Job>,
}

impl Runner {
    /// Starts the runner task; it ends when every `Runner` is dropped and the queue is empty.
    pub fn start() -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, mut jobs) = mpsc::unbounded_channel::<Job>();
        let task = tokio::spawn(async move {
            while let Some(job) = jobs.recv().await {
                run(&job).await;
            }
        });
        (Self { queue }, task)
    }

    /// Queues the commands of one render pass, each distinct command once.
    pub fn submit(&self, requests: Vec<(TemplateCommand, String)>) {
        let mut jobs: Vec<Job> = Vec::new();
        for (command, template) in requests {
            match jobs.iter_mut().find(|job| job.command.line == command.line) {
                Some(job) => job.templates.push(template),
                None => jobs.push(Job {
                    command,
                    templates: vec![template],
                }),
            }
        }
        for job in jobs {
            if self.queue.send(job).is_err() {
                warn!("The command runner has stopped; a command was not run.");
            }
        }
    }
}

/// One job per distinct command line, naming every template that asked for it.
fn dedupe(requests: Vec<(TemplateCommand, String)>) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::new();
    for (command, template) in requests {
        match jobs.iter_mut().find(|job| job.command.line == command.line) {
            Some(job) => job.templates.push(template),
            None => jobs.push(Job {
                command,
                templates: vec![template],
            }),
        }
    }
    jobs
}

/// Runs the commands of one render pass now, one after the other (`exit_after_auth`).
pub async fn run_all(requests: Vec<(TemplateCommand, String)>) {
    for job in dedupe(requests) {
        run(&job).await;
    }
}

fn describe(line: &CommandLine) -> String {
    match line {
        CommandLine::Shell(text) => text.clone(),
        CommandLine::Argv(argv) => argv.join(" "),
    }
}

async fn run(job: &Job) {
    let shown = describe(&job.command.line);
    let templates = job.templates.join(", ");
    let mut command = match &job.command.line {
        CommandLine::Shell(text) => {
            let mut command = tokio::process::Command::new("sh");
            command.arg("-c").arg(text);
            command
        }
        CommandLine::Argv(argv) => {
            let Some((program, arguments)) = argv.split_first() else {
                return;
            };
            let mut command = tokio::process::Command::new(program);
            command.args(arguments);
            command
        }
    };
    // Its own process group, so a timeout kills the whole command (`sh -c` and its children),
    // not just the shell.
    command
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(spawn_error) => {
            error!(command = %shown, templates = %templates, error = %spawn_error, "Could not start the command.");
            return;
        }
    };
    match tokio::time::timeout(job.command.timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => {
            info!(command = %shown, templates = %templates, "Ran the command.")
        }
        Ok(Ok(status)) => {
            error!(command = %shown, templates = %templates, %status, "The command failed.");
        }
        Ok(Err(wait_error)) => {
            error!(command = %shown, error = %wait_error, "Could not wait for the command.")
        }
        Err(_) => {
            if let Some(group) = child
                .id()
                .and_then(|id| rustix::process::Pid::from_raw(id as i32))
            {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.kill().await;
            error!(command = %shown, templates = %templates, timeout = ?job.command.timeout, "The command timed out and was killed.");
        }
    }
}
