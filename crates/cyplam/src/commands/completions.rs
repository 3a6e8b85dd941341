//! `cyplam completions bash|zsh|fish`: prints the shell's completion script for cyplam
//! (`cyplam completions bash > /etc/bash_completion.d/cyplam`).

use crate::ctx::Ctx;
use crate::slurm::Scheduler;
use anyhow::Result;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

impl CompletionsArgs {
    pub async fn run<S: Scheduler>(&self, _ctx: &Ctx<'_, S>) -> Result<()> {
        let mut cmd = crate::cli::Cli::command();
        clap_complete::generate(self.shell, &mut cmd, "cyplam", &mut std::io::stdout());
        Ok(())
    }
}
